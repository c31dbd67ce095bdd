#!/usr/bin/env bash
# System calls per request, by thread, of one variant of the HTTP benchmark's
# server under a bounded wrk run (docs/bench/http.md): the server runs under
# `strace -f`, wrk loads it for a few seconds, and each thread's calls (by name)
# are divided by the requests wrk completed. strace slows the server a lot; the
# counts per request are what matters, not the throughput.
#
# Run with: scripts/bench-syscalls.sh observe [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-observe}
secs=${2:-3}
cargo bench -p observe-axum --bench http --no-run 2>/dev/null
bin=$(ls -t target/release/deps/http-* | grep -v '\.d$' | head -1)
out=$(mktemp -d)
OBSERVE_LOG_OUTPUT=stdout RUST_LOG=info strace -f -qq -o "$out/trace" "$bin" --serve "$variant" >/dev/null 2>"$out/err" &
spid=$!
for _ in $(seq 50); do grep -q PORT "$out/err" 2>/dev/null && break; sleep 0.2; done
port=$(sed -n 's/^PORT //p' "$out/err")
pid=$(pgrep -P $spid | head -1)
for t in /proc/$pid/task/*; do echo "$(basename $t) $(cat $t/comm)"; done >"$out/threads"
wrk -t1 -c16 -d${secs}s "http://127.0.0.1:$port/hello" >"$out/wrk"
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out/wrk")
kill $pid; wait $spid 2>/dev/null || true
echo "$variant: $requests requests"
awk -v n="$requests" 'NR==FNR { name[$1]=$2; next }
  $2 !~ /^<\.\.\./ { split($2, a, "("); c[name[$1] " " a[1]]++ }
  END { for (k in c) if (c[k] / n >= 0.01) printf "%-40s %8.3f per request\n", k, c[k] / n }' \
  "$out/threads" "$out/trace" | sort -k4 -n -r
rm -rf "$out"
