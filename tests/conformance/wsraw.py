"""tests/conformance/wsraw.py: compatibility name for tests/lib/duro_test.py.

The conformance and abuse suites' raw-socket toolkit is now part of tests/lib/duro_test.py (one
toolkit for every suite); this module re-exports it so that `from wsraw import Duro, WS, ...`
keeps working.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from duro_test import *  # noqa: E402,F401,F403
from duro_test import _codes, _sanitized, _short  # noqa: E402,F401
