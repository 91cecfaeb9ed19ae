# shellcheck shell=sh
# tests/load/common.sh: sourced by the websocat scripts of this directory (POSIX sh).
#
# Sets `ws` (the websocat to run: $WEBSOCAT, else websocat on PATH), `url` (the first argument,
# default ws://127.0.0.1:8787/websocket, loopback only), `expect` ($EXPECT: seed or echo) and
# `tmp` (a directory removed on exit). A script checks its own arguments, then calls
# need_websocat, which prints `SKIPPED (websocat not found)` and exits 77 (meson's skip code)
# when websocat is not installed: a missing client is never reported as a pass.

url=${1:-ws://127.0.0.1:8787/websocket}
ws=${WEBSOCAT:-websocat}
expect=${EXPECT:-seed}

# Like duro-bench, these scripts load only this machine.
case $url in
ws://127.*|ws://localhost|ws://localhost:*|ws://localhost/*|ws://\[::1\]|ws://\[::1\]:*|ws://\[::1\]/*) ;;
*)
    echo "$0: $url: only loopback URLs (ws://127.x.y.z, ws://[::1] or ws://localhost) are allowed" >&2
    exit 2
    ;;
esac
case $expect in
seed|echo) ;;
*)
    echo "$0: EXPECT must be seed or echo" >&2
    exit 2
    ;;
esac

# need_websocat: exits 77 with SKIPPED when there is no websocat to run.
need_websocat() {
    if ! command -v "$ws" >/dev/null 2>&1; then
        echo "SKIPPED (websocat not found: see tests/load/README.md)"
        exit 77
    fi
}

# positive NAME VALUE: exits 2 unless VALUE is a whole number of at least 1.
positive() {
    case $2 in
    ''|*[!0-9]*|0|00*) echo "$0: $1 must be a whole number of at least 1, not '$2'" >&2; exit 2 ;;
    esac
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/duro-load.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# check_replies FILE PREFIX COUNT MAXCONNS: FILE must hold COUNT lines, line k being the reply
# to message PREFIX<k>: the seed's "[Durable Object] message: PREFIX<k>, connections: N" with
# 1 <= N <= MAXCONNS (0: any N), or PREFIX<k> itself when EXPECT=echo. Prints what is wrong.
check_replies() {
    awk -v p="$2" -v m="$3" -v maxc="$4" -v mode="$expect" '
        {
            want = p NR
            if (mode == "echo") {
                if ($0 != want) { bad++; if (bad <= 3) print "  line " NR ": " $0 }
                next
            }
            pre = "[Durable Object] message: " want ", connections: "
            n = substr($0, length(pre) + 1)
            if (substr($0, 1, length(pre)) != pre || n !~ /^[1-9][0-9]*$/ ||
                (maxc > 0 && n + 0 > maxc + 0)) {
                bad++
                if (bad <= 3) print "  line " NR ": " $0
            }
        }
        END {
            if (NR != m) { print "  " NR " replies, want " m; exit 1 }
            if (bad) { print "  " bad " replies wrong"; exit 1 }
        }' "$1"
}

# lines PREFIX COUNT: prints PREFIX1 .. PREFIX<COUNT>, one a line.
lines() {
    awk -v p="$1" -v m="$2" 'BEGIN { for (k = 1; k <= m; k++) print p k }'
}

# check_clients CLIENTS TAG COUNT MAXC: after every client I (1..CLIENTS) wrote its websocat
# status to $tmp/rc.I, its output to $tmp/out.I and its errors to $tmp/err.I, checks each one's
# replies to messages "TAG I-m..." and sets `failed` to the number of clients that went wrong
# (saying why for each).
check_clients() {
    failed=0
    i=1
    while [ "$i" -le "$1" ]; do
        rc=$(cat "$tmp/rc.$i")
        if [ "$rc" -ne 0 ]; then
            echo "client $i: websocat exited with status $rc"
            sed 's/^/  /' "$tmp/err.$i"
            failed=$((failed + 1))
        elif ! check_replies "$tmp/out.$i" "$2$i-m" "$3" "$4" >"$tmp/why.$i"; then
            echo "client $i: wrong replies"
            cat "$tmp/why.$i"
            failed=$((failed + 1))
        fi
        i=$((i + 1))
    done
}
