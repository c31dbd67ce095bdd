#!/usr/bin/env bash
# Resident memory (VmRSS from /proc) of the release quickstart and of bare axum
# (the HTTP benchmark's `bare` server: the same kind of route, a 2-worker runtime)
# at idle and after about 100k requests of `wrk -t1 -c16` to a route that answers
# a string (docs/BENCHMARKS.md, "Memory"). `REQUESTS=450000` loads longer: the
# quickstart's recorder (64 MiB) is full after about 30k requests of this route,
# but its resident memory grows, by fragmentation, to about 250k.
#
# Run with: scripts/bench-memory.sh   (needs wrk; builds the quickstart in release)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p quickstart 2>/dev/null
cargo bench -p observe-axum --bench http --no-run 2>/dev/null
http=$(ls -t target/release/deps/http-* | grep -v '\.d$' | head -1)
rss() { awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' /proc/$1/status; }
requests=${REQUESTS:-100000}
load() { # url: wrk until at least $requests requests
  local total=0
  while [ "$total" -lt "$requests" ]; do
    n=$(wrk -t1 -c16 -d2s "$1" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
    total=$((total + n))
  done
  echo "$total"
}
measure() { # name pid url
  sleep 2
  local idle; idle=$(rss "$2")
  local n; n=$(load "$3")
  sleep 1
  echo "$1: idle $idle, after $n requests $(rss "$2")"
}
OBSERVE_LOG_OUTPUT=stdout target/release/quickstart --addr 127.0.0.1:3917 >/dev/null 2>&1 &
q=$!
measure quickstart $q http://127.0.0.1:3917/
kill $q
out=$(mktemp)
"$http" --serve bare >/dev/null 2>"$out" &
b=$!
for _ in $(seq 50); do grep -q PORT "$out" && break; sleep 0.2; done
measure "bare axum" $b "http://127.0.0.1:$(sed -n 's/^PORT //p' "$out")/hello"
kill $b
rm -f "$out"
