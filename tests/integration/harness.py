"""tests/integration/harness.py: compatibility name for tests/lib/duro_test.py.

The integration suite's toolkit moved to tests/lib (one toolkit for every suite); this module
re-exports it so that `from harness import Gateway, frame, ...` keeps working. New tests import
duro_test directly (see tests/lib/duro_test.py for the API).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from duro_test import *  # noqa: E402,F401,F403
from duro_test import _is_worker, _sanitized  # noqa: E402,F401
