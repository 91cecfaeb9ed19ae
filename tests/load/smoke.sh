#!/bin/sh
# tests/load/smoke.sh [URL]: one round trip and a clean close, with websocat.
#
# Sends one text message, expects the seed's reply (EXPECT=echo: the same text), then closes
# (websocat sends a close frame at the end of its input and waits for the server's close).
# Environment: WEBSOCAT=/path/to/websocat, EXPECT=seed|echo, TIMEOUT (seconds, default 10).
# Exit status: 0 ok, 1 failed, 2 bad usage, 77 websocat missing (SKIPPED).
set -eu
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
need_websocat

msg="smoke-$$"
rc=0
printf '%s\n' "$msg" |
    timeout "${TIMEOUT:-10}" "$ws" -t --linemode-strip-newlines "$url" >"$tmp/out" 2>"$tmp/err" ||
    rc=$?
if [ "$rc" -ne 0 ]; then
    echo "smoke: FAIL: websocat exited with status $rc (124: no clean close in time)"
    sed 's/^/  /' "$tmp/err"
    exit 1
fi
got=$(cat "$tmp/out")
if [ "$expect" = echo ]; then
    want=$msg
    [ "$got" = "$want" ] || { echo "smoke: FAIL: got '$got', want '$want'"; exit 1; }
else
    pre="[Durable Object] message: $msg, connections: "
    n=${got#"$pre"}
    case $got in
    "$pre"*) ;;
    *) echo "smoke: FAIL: got '$got', want '$pre<N>'"; exit 1 ;;
    esac
    case $n in
    ''|*[!0-9]*|0*) echo "smoke: FAIL: got '$got': N is not a count"; exit 1 ;;
    esac
fi
echo "smoke: ok: $got"
