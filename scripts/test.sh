#!/usr/bin/env bash
# Builds duro and runs every test suite, twice: in the normal build (unit, integration,
# conformance, abuse, real clients, and each fuzz target for DURO_FUZZ_SECONDS, default 20) and
# in a build with AddressSanitizer and UndefinedBehaviorSanitizer (every suite but fuzz, whose
# targets carry the sanitizers themselves), where any sanitizer report fails its test. The last
# line of output is "N passed, N failed[, N skipped]" over both runs; the exit status is
# non-zero when any test failed or when no test ran.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

bash scripts/install-deps.sh test
if [ -f tests/clients/package-lock.json ] && [ ! -d tests/clients/node_modules ]; then
    (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi

setup() { # DIR [meson options...]: every CI build treats a compiler warning as an error
    local dir=$1
    shift
    # -Dtests=enabled also for a build/ that scripts/run.sh configured without the tests.
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true -Dtests=enabled "$@"
    else
        meson configure "$dir" -Dwerror=true -Dtests=enabled "$@"
    fi
    meson compile -C "$dir"
}

status=0
logs=()

# 1. the normal build: everything, fuzzing each target briefly
setup build
rm -f build/meson-logs/testlog.json
DURO_FUZZ_SECONDS="${DURO_FUZZ_SECONDS:-20}" \
    meson test -C build --print-errorlogs --num-processes 2 || status=1
logs+=(build/meson-logs/testlog.json)

# 2. the sanitizer build: a report aborts the process (and the harnesses scan for reports)
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
rm -f build-asan/meson-logs/testlog.json
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 \
    --suite unit --suite integration --suite conformance --suite abuse --suite clients \
    || status=1
logs+=(build-asan/meson-logs/testlog.json)

python3 - "$status" "${logs[@]}" <<'PY'
import json
import sys

meson_status, paths = int(sys.argv[1]), sys.argv[2:]
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in paths:
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
        counts["failed"] += 1

summary = "%d passed, %d failed" % (counts["passed"], counts["failed"])
if counts["skipped"]:
    summary += ", %d skipped" % counts["skipped"]
sys.stdout.flush()
print(summary, flush=True)
ran = counts["passed"] + counts["failed"]
if counts["failed"] or ran == 0 or meson_status != 0:
    sys.exit(1)
PY
