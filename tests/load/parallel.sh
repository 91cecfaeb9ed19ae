#!/bin/sh
# tests/load/parallel.sh [URL] [CLIENTS] [MESSAGES]: CLIENTS websocat clients at once (default
# 10), each sending MESSAGES text messages (default 100) and checking every reply, in order:
# the seed's "[Durable Object] message: M, connections: N" with 1 <= N <= CLIENTS when the
# clients are alone on the object (EXPECT=echo: M itself).
# Environment: WEBSOCAT=/path/to/websocat, EXPECT=seed|echo, TIMEOUT (seconds per client,
# default 60), OTHERS=1 when other sockets may share the object (N is then not bounded).
# Exit status: 0 ok, 1 failed, 2 bad usage, 77 websocat missing (SKIPPED).
set -eu
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

clients=${2:-10}
messages=${3:-100}
positive CLIENTS "$clients"
positive MESSAGES "$messages"
need_websocat
maxc=$clients
[ "${OTHERS:-0}" = 1 ] && maxc=0

i=1
while [ "$i" -le "$clients" ]; do
    (
        rc=0
        lines "c$i-m" "$messages" |
            timeout "${TIMEOUT:-60}" "$ws" -t --linemode-strip-newlines "$url" \
                >"$tmp/out.$i" 2>"$tmp/err.$i" || rc=$?
        echo "$rc" >"$tmp/rc.$i"
    ) &
    i=$((i + 1))
done
wait

check_clients "$clients" c "$messages" "$maxc"
if [ "$failed" -ne 0 ]; then
    echo "parallel: FAIL: $failed of $clients clients"
    exit 1
fi
echo "parallel: ok: $clients clients x $messages messages, every reply checked"
