#!/usr/bin/env bash
# Load figure for docs/Performance.md (`make example-load`): wrk against the
# example service (release build) with the cache in front of the slow backend
# and without it. Requests go to ids drawn uniformly from 1...IDS (default
# 10,000, about 20 MiB of answers: they fit the 32 MiB budget); each mode gets
# a fresh store, a warm-up run, then a measured one, and reports how many
# fetches reached the backend over both (each id once while it stays cached).
# MODES lists the runs: writeBack, groupCommit, synchronous (the LMDB tier's
# durability), memory (no tier), off (no cache); default "writeBack off".
set -euo pipefail
cd "$(dirname "$0")"
command -v wrk >/dev/null || { echo "wrk is missing: make example-load installs it"; exit 1; }
swift build -c release
bin="$(swift build -c release --show-bin-path)/CachedService"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
ids=${IDS:-10000}; seconds=${SECONDS_PER_RUN:-10}; threads=${WRK_THREADS:-2}; connections=${WRK_CONNECTIONS:-32}
# Each wrk thread gets its own seed: with one seed they would ask for the same ids together.
cat >"$work/ids.lua" <<LUA
local threads = 0
function setup(thread) threads = threads + 1; thread:set("seed", threads) end
function init(args) math.randomseed(os.time() * 100 + seed) end
request = function() return wrk.format("GET", "/item/" .. math.random(1, $ids)) end
LUA
for mode in ${MODES:-writeBack off}; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ "$mode" = off ]; then cache=off; durability=memory; else cache=on; durability=$mode; fi
    PORT=$port CACHE_DIR="$work/cache-$mode" CACHE=$cache DURABILITY=$durability "$bin" >"$work/log-$mode" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && break; sleep 0.05; done
    wrk -t"$threads" -c"$connections" -d"${seconds}s" -s "$work/ids.lua" "http://127.0.0.1:$port" >/dev/null
    echo "== $mode: wrk -t$threads -c$connections -d${seconds}s, ids 1...$ids (after a warm-up run)"
    wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$work/ids.lua" "http://127.0.0.1:$port" \
        | grep -E "Requests/sec|^ +(50|75|90|99)%|Latency "
    curl -s "http://127.0.0.1:$port/metrics" | grep -E '^(larder_cache_requests_total|backend_fetches_total)'
    kill -TERM $pid; wait $pid || true
done
