#!/usr/bin/env bash
# Instructions per request of each variant of observe-axum's `layer` benchmark
# (or, with --grpc, per call of observe-tonic's `grpc_layer`), counted by callgrind
# over every thread of the process (observe's background threads included): two
# runs of N1 and N2 requests, the difference divided by N2 - N1, so start-up and
# shutdown cancel out. Repeatable whatever the load of the machine
# (docs/bench/http.md, docs/bench/grpc.md).
#
# Run with: scripts/bench-instructions.sh [--grpc] [variant...]
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-2000}
N2=${N2:-12000}
crate=observe-axum bench=layer
if [ "${1:-}" = --grpc ]; then
  crate=observe-tonic bench=grpc_layer
  shift
fi
cargo bench -p "$crate" --bench "$bench" --no-run 2>/dev/null
bin=$(ls -t target/release/deps/"$bench"-* | grep -v '\.d$' | head -1)
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(bare observe observe-quiet tower-http-otel)
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --variant "$1" --iters "$2" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for v in "${variants[@]}"; do
  a=$(count "$v" "$N1"); b=$(count "$v" "$N2")
  echo "$v: $(( (b - a) / (N2 - N1) )) instructions per request"
done
