#!/usr/bin/env bash
# tests/fuzz/run.sh: builds duro's libFuzzer targets with clang and runs them.
#
#   tests/fuzz/run.sh TARGET SECONDS   build TARGET, fuzz it for SECONDS (0: replay the corpus only)
#   tests/fuzz/run.sh all SECONDS      every target in turn, SECONDS each
#   tests/fuzz/run.sh build [TARGET]   build only
#   tests/fuzz/run.sh list             the targets
#
# The binaries are the ones meson builds (tests/fuzz/meson.build) in $DURO_FUZZ_DIR.
# Targets: http_route handshake msg conf session pmd proxy storage. Seeds are in tests/fuzz/corpus/TARGET/ (read
# only); new inputs go to $DURO_FUZZ_DIR/corpus/TARGET, crashes to $DURO_FUZZ_DIR/crashes/.
# DURO_FUZZ_DIR defaults to build-fuzz/ at the repository root (git-ignored). Needs clang with
# libFuzzer (Debian 12: apt-get install clang) plus duro's own build dependencies (DURO_FUZZ_CC
# picks another clang).
# Exits non-zero when a target fails to build or finds a crash, leak, timeout or invariant
# violation; the reproducer's path is printed.
set -euo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${DURO_FUZZ_DIR:-$repo/build-fuzz}"
cc="${DURO_FUZZ_CC:-clang}"
targets=(http_route handshake msg conf session pmd proxy storage)

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The targets are built by meson (tests/fuzz/meson.build) in a build directory of their own,
# with clang, libFuzzer and ASan/UBSan; this script only sets that directory up and runs them.
build() {
    local t=${1:-}
    if ! command -v "$cc" >/dev/null; then
        echo "run.sh: $cc not found: apt-get install clang" >&2
        exit 1
    fi
    if [ ! -f "$out/build.ninja" ]; then
        CC="$cc" meson setup "$out" "$repo" -Dfuzz=enabled -Dtests=enabled \
            -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >&2
    fi
    if [ -n "$t" ]; then
        meson compile -C "$out" "fuzz_$t" >&2
    else
        meson compile -C "$out" >&2
    fi
}

run() {
    local t=$1 secs=$2
    build "$t"
    mkdir -p "$out/corpus/$t" "$out/crashes" "$here/corpus/$t"
    local dict=()
    if [ -f "$here/dict/$t.dict" ]; then
        dict=(-dict="$here/dict/$t.dict")
    fi
    # libFuzzer reports a finding with exit code 77 by default, which meson reads as "skipped".
    local args=(-timeout=10 -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 -max_len=8192
                -print_final_stats=1
                -artifact_prefix="$out/crashes/$t-" "${dict[@]}")
    echo "== fuzz_$t: ${secs}s" >&2
    if [ "$secs" = 0 ]; then
        "$out/tests/fuzz/fuzz_$t" "${args[@]}" -runs=0 "$here/corpus/$t"
    else
        "$out/tests/fuzz/fuzz_$t" "${args[@]}" -max_total_time="$secs" "$out/corpus/$t" "$here/corpus/$t"
    fi
}

[ $# -ge 1 ] || usage
case "$1" in
list)
    printf '%s\n' "${targets[@]}" ;;
build)
    if [ $# -ge 2 ]; then build "$2"; else for t in "${targets[@]}"; do build "$t"; done; fi ;;
all)
    [ $# -eq 2 ] || usage
    failed=()
    for t in "${targets[@]}"; do
        if ! run "$t" "$2"; then
            failed+=("$t")
        fi
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "run.sh: failed: ${failed[*]} (reproducers in $out/crashes/)" >&2
        exit 1
    fi
    echo "run.sh: all ${#targets[@]} targets ran $2 s without a finding" >&2 ;;
-h | --help)
    usage ;;
*)
    [ $# -eq 2 ] || usage
    run "$1" "$2" ;;
esac
