#!/bin/sh
# tests/load/soak.sh [URL] [SECONDS] [CLIENTS]: CLIENTS long-lived websocat clients (default
# 20) held for SECONDS (default 60), each sending one text message every INTERVAL seconds
# (default 0.5) and checking every reply; meanwhile a new short connection (one round trip and
# a clean close) every 2 seconds shows the server still accepts. Bounded: every client stops
# by itself, and each is killed by `timeout` at SECONDS + 30.
# Environment: WEBSOCAT=/path/to/websocat, EXPECT=seed|echo, INTERVAL, OTHERS=1 when other
# sockets may share the object.
# Exit status: 0 ok, 1 failed, 2 bad usage, 77 websocat missing (SKIPPED).
set -eu
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

seconds=${2:-60}
clients=${3:-20}
interval=${INTERVAL:-0.5}
positive SECONDS "$seconds"
positive CLIENTS "$clients"
need_websocat
count=$(awk -v s="$seconds" -v i="$interval" 'BEGIN { n = int(s / i); print n < 1 ? 1 : n }')
maxc=$((clients + 1)) # the short connections come and go
[ "${OTHERS:-0}" = 1 ] && maxc=0

# trickle PREFIX: one numbered line every $interval seconds, $count lines in all
trickle() {
    k=1
    while [ "$k" -le "$count" ]; do
        printf '%s%s\n' "$1" "$k"
        sleep "$interval"
        k=$((k + 1))
    done
}

i=1
while [ "$i" -le "$clients" ]; do
    (
        rc=0
        trickle "s$i-m" |
            timeout "$((seconds + 30))" "$ws" -t --linemode-strip-newlines "$url" \
                >"$tmp/out.$i" 2>"$tmp/err.$i" || rc=$?
        echo "$rc" >"$tmp/rc.$i"
    ) &
    i=$((i + 1))
done

short_ok=0
short_failed=0
end=$(($(date +%s) + seconds))
j=1
while [ "$(date +%s)" -lt "$end" ]; do
    rc=0
    printf 'p%s1\n' "$j-m" |
        timeout 10 "$ws" -t --linemode-strip-newlines "$url" >"$tmp/short" 2>&1 || rc=$?
    # the short client sends message "p<j>-m1": check it as message 1 of prefix "p<j>-m"
    if [ "$rc" -eq 0 ] && check_replies "$tmp/short" "p$j-m" 1 "$maxc" >/dev/null; then
        short_ok=$((short_ok + 1))
    else
        short_failed=$((short_failed + 1))
        echo "short connection $j failed (status $rc):"
        sed 's/^/  /' "$tmp/short"
    fi
    j=$((j + 1))
    sleep 2
done
wait

check_clients "$clients" s "$count" "$maxc"
if [ "$failed" -ne 0 ] || [ "$short_failed" -ne 0 ]; then
    echo "soak: FAIL: $failed of $clients long clients, $short_failed short connections"
    exit 1
fi
echo "soak: ok: $clients clients x $count messages over ${seconds}s, $short_ok short connections"
