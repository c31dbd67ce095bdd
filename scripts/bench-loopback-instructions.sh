#!/usr/bin/env bash
# Instructions per call of a gRPC server variant of observe-tonic's `grpc` bench
# (bare, observe, observe-quiet, observe-uninit, tower-http-otel) serving real
# HTTP/2 over loopback: the server runs under callgrind (every thread: the runtime,
# h2's header compression, malloc, observe's worker), the load runs outside it. The
# first WARM seconds of load fill the flight recorder (OBSERVE_FLIGHT_RECORDER_BYTES,
# 4 MiB here by default so that it is full and evicting, as in a long-running
# service), then the counts are zeroed and SECONDS more are counted. Unlike CPU time
# on this shared VM, the count moves little between runs (about ±1 %), so it can
# compare changes that loopback timings cannot (docs/bench/grpc.md).
#
# Run with: scripts/bench-loopback-instructions.sh [variant...]
set -euo pipefail
cd "$(dirname "$0")/.."
WARM=${WARM:-12}
SECONDS_COUNTED=${SECONDS_COUNTED:-15}
export OBSERVE_FLIGHT_RECORDER_BYTES=${OBSERVE_FLIGHT_RECORDER_BYTES:-4194304}
cargo bench -p observe-tonic --bench grpc --no-run 2>/dev/null
bin=$(ls -t target/release/deps/grpc-* | grep -v '\.d$' | head -1)
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(bare observe observe-quiet tower-http-otel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for v in "${variants[@]}"; do
  OBSERVE_LOG_OUTPUT=stdout RUST_LOG=info valgrind --tool=callgrind \
    --callgrind-out-file="$work/cg.%p" "$bin" --serve "$v" >/dev/null 2>"$work/server" &
  server=$!
  port=
  for _ in $(seq 120); do
    port=$(sed -n 's/^PORT //p' "$work/server")
    [ -n "$port" ] && break
    sleep 0.5
  done
  [ -n "$port" ] || { echo "$v: the server did not start" >&2; kill "$server"; exit 1; }
  "$bin" --load bare "$port" "$WARM" >/dev/null
  callgrind_control --zero "$server" >/dev/null 2>&1
  calls=$("$bin" --load bare "$port" "$SECONDS_COUNTED" | sed -n 's/^CALLS //p')
  callgrind_control --dump "$server" >/dev/null 2>&1
  sleep 1
  kill "$server"
  wait "$server" 2>/dev/null || true
  total=$(callgrind_annotate "$work"/cg.*.1 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  hpack=$(callgrind_annotate --threshold=100 --auto=no "$work"/cg.*.1 2>/dev/null \
    | awk '/\/hpack\// { gsub(",", "", $1); s += $1 } END { print s + 0 }')
  echo "$v: $(( total / calls )) instructions per call ($(( hpack / calls )) in HPACK), $calls calls counted"
  rm -f "$work"/cg.*
done
