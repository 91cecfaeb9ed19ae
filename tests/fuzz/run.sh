#!/usr/bin/env bash
# tests/fuzz/run.sh: builds duro's libFuzzer targets with clang and runs them.
#
#   tests/fuzz/run.sh TARGET SECONDS   build TARGET, fuzz it for SECONDS (0: replay the corpus only)
#   tests/fuzz/run.sh all SECONDS      every target in turn, SECONDS each
#   tests/fuzz/run.sh build [TARGET]   build only
#   tests/fuzz/run.sh list             the targets
#
# Targets: http_route handshake msg conf session pmd proxy. Seeds are in tests/fuzz/corpus/TARGET/ (read
# only); new inputs go to $DURO_FUZZ_DIR/corpus/TARGET, crashes to $DURO_FUZZ_DIR/crashes/.
# DURO_FUZZ_DIR defaults to build-fuzz/ at the repository root (git-ignored). Needs clang with
# libFuzzer (Debian 12: apt-get install clang) plus duro's own build dependencies.
# Exits non-zero when a target fails to build or finds a crash, leak, timeout or invariant
# violation; the reproducer's path is printed.
set -euo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${DURO_FUZZ_DIR:-$repo/build-fuzz}"
cc="${DURO_FUZZ_CC:-clang}"
targets=(http_route handshake msg conf session pmd proxy)

llhttp_src=/usr/share/llhttp
llhttp_inc=/usr/share/include/llhttp

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

flags=(-g -O1 -fno-omit-frame-pointer -std=c17 -D_GNU_SOURCE '-DDURO_VERSION="fuzz"'
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$repo" -I"$repo/include" -I"$llhttp_inc" -w)

sources_for() {
    local t=$1
    local llhttp=("$llhttp_src/llhttp.c" "$llhttp_src/api.c" "$llhttp_src/http.c")
    case "$t" in
    http_route)
        echo "$here/fuzz_http_route.c $repo/gateway/http_req.c $repo/gateway/router.c" \
             "$repo/common/conf.c $repo/common/log.c $repo/common/wskey.c ${llhttp[*]}" ;;
    handshake)
        echo "$here/fuzz_handshake.c $repo/gateway/http_req.c $repo/common/log.c" \
             "$repo/common/wskey.c ${llhttp[*]}" ;;
    msg)
        echo "$here/fuzz_msg.c $repo/common/msg.c" ;;
    proxy)
        echo "$here/fuzz_proxy.c $repo/gateway/proxy.c" ;;
    pmd)
        echo "$here/fuzz_pmd.c $repo/worker/pmd.c" ;;
    conf)
        echo "$here/fuzz_conf.c $repo/common/conf.c $repo/common/log.c $repo/gateway/router.c" ;;
    session)
        # Every worker module but main and intake (the channel), every common module but chan
        # (stubbed), and the embedded default config some modules refer to.
        local s="$here/fuzz_session.c $here/stub_chan.c $out/conf_embedded.c"
        for f in "$repo"/worker/*.c; do
            case "$(basename "$f")" in main.c | intake.c) ;; *) s="$s $f" ;; esac
        done
        for f in "$repo"/common/*.c; do
            case "$(basename "$f")" in chan.c) ;; *) s="$s $f" ;; esac
        done
        echo "$s" ;;
    *)
        echo "run.sh: unknown target '$t' (one of: ${targets[*]})" >&2
        exit 2 ;;
    esac
}

libs_for() {
    case "$1" in
    http_route | handshake) echo "-lnettle -linih" ;;
    msg | proxy) echo "" ;;
    pmd) echo "-lz" ;;
    conf) echo "-linih" ;;
    session) echo "-luv -lwslay -linih -lxxhash -lnettle -ldl -lm -lz" ;;
    esac
}

build() {
    local t=$1
    if ! command -v "$cc" >/dev/null; then
        echo "run.sh: $cc not found: apt-get install clang" >&2
        exit 1
    fi
    mkdir -p "$out"
    if [ "$t" = session ]; then
        python3 "$repo/tools/embed.py" "$repo/config/duro.ini" "$out/conf_embedded.c" \
            conf_default_text
    fi
    # shellcheck disable=SC2046
    "$cc" "${flags[@]}" $(sources_for "$t") -o "$out/fuzz_$t" $(libs_for "$t")
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
        "$out/fuzz_$t" "${args[@]}" -runs=0 "$here/corpus/$t"
    else
        "$out/fuzz_$t" "${args[@]}" -max_total_time="$secs" "$out/corpus/$t" "$here/corpus/$t"
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
