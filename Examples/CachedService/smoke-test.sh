#!/usr/bin/env bash
# Smoke test of the example service, as CI runs it (`make example-smoke`):
# a miss, a hit, /metrics showing both, SIGTERM and a clean exit with the
# store closed, then a second start that serves the first run's entry from disk.
set -euo pipefail
cd "$(dirname "$0")"
swift build
bin="$(swift build --show-bin-path)/CachedService"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT=$port CACHE_DIR="$work/cache"
base="http://127.0.0.1:$port"

start() {
    "$bin" >"$work/log$1" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do
        curl -s -o /dev/null "$base/metrics" && return 0
        kill -0 $pid 2>/dev/null || { cat "$work/log$1"; echo "the service exited at start"; exit 1; }
        sleep 0.05
    done
    echo "the service did not answer on $base"; exit 1
}

stop() {
    kill -TERM $pid
    status=0; wait $pid || status=$?
    [ $status -eq 0 ] || { cat "$work/log$1"; echo "exit status $status after SIGTERM"; exit 1; }
    grep -q "cache closed" "$work/log$1" || { cat "$work/log$1"; echo "no clean close logged"; exit 1; }
}

expect_header() {  # url, expected X-Cache value
    got=$(curl -s -D - -o /dev/null "$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache" {print $2}')
    [ "$got" = "$2" ] || { echo "GET $1: X-Cache is '$got', expected '$2'"; exit 1; }
}

start 1
expect_header "$base/item/42" miss
expect_header "$base/item/42" hit
[ "$(curl -s "$base/fib/90")" = "2880067194370816120" ] || { echo "GET /fib/90 is wrong"; exit 1; }
metrics=$(curl -s "$base/metrics")
echo "$metrics" | grep -q 'larder_cache_requests_total{cache="items",result="hit"} 1' \
    || { echo "$metrics"; echo "/metrics lacks the hit"; exit 1; }
echo "$metrics" | grep -Eq 'larder_cache_requests_total\{cache="items",result="miss"\} [1-9]' \
    || { echo "$metrics"; echo "/metrics lacks the miss"; exit 1; }
stop 1

start 2
expect_header "$base/item/42" hit   # restored from the first run's store
stop 2
echo "example smoke test passed"
