#!/usr/bin/env bash
# Builds duro and runs every test suite (unit, integration). The last line of output is the
# summary "N passed, N failed[, N skipped]"; the exit status is non-zero when any test failed
# or when no test ran.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

bash scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
    meson setup build
fi
meson compile -C build

# A stale log from an earlier run must not be counted if this run dies before writing one.
rm -f build/meson-logs/testlog.json
status=0
meson test -C build --print-errorlogs --num-processes 2 || status=$?

/usr/bin/python3 - build/meson-logs/testlog.json "$status" <<'PY'
import json
import sys

path, meson_status = sys.argv[1], int(sys.argv[2])
counts = {"passed": 0, "failed": 0, "skipped": 0}
try:
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            result = json.loads(line).get("result", "")
            if result in ("OK", "EXPECTEDFAIL"):
                counts["passed"] += 1
            elif result == "SKIP":
                counts["skipped"] += 1
            else:
                # FAIL, TIMEOUT, UNEXPECTEDPASS, ERROR, INTERRUPT: all count against the run.
                counts["failed"] += 1
except FileNotFoundError:
    print("test.sh: %s not written: meson test did not run" % path, file=sys.stderr)

summary = "%d passed, %d failed" % (counts["passed"], counts["failed"])
if counts["skipped"]:
    summary += ", %d skipped" % counts["skipped"]
sys.stdout.flush()
print(summary, flush=True)
ran = counts["passed"] + counts["failed"]
if counts["failed"] or ran == 0 or meson_status != 0:
    sys.exit(1)
PY
