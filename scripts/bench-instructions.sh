#!/usr/bin/env bash
# Instructions per request of each variant of observe-axum's `layer` benchmark
# (or, with --grpc, per call of observe-tonic's `grpc_layer`), counted by callgrind
# on the calling thread (the calls only) and observe's worker (its drains of the
# calls' records): two runs of N1 and N2 requests, the difference divided by N2 - N1.
# Repeatable whatever the load of the machine, to a few tens of instructions
# (docs/bench/http.md, docs/bench/grpc.md).
#
# With --traced, per call of a case of observe-core's `traced` benchmark, on the
# calling thread only (the budget of `#[traced]` is a calling-thread cost; the
# worker's share is left out), inside the same root spans for every variant
# (docs/BENCHMARKS.md).
#
# Run with: scripts/bench-instructions.sh [--grpc] [variant...]
#           scripts/bench-instructions.sh --traced [case/variant...]
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-2000}
N2=${N2:-12000}
crate=observe-axum bench=layer
if [ "${1:-}" = --traced ]; then
  shift
  cargo bench -p observe-core --bench traced --no-run 2>/dev/null
  bin=$(ls -t target/release/deps/traced-* | grep -v '\.d$' | head -1)
  cases=("$@")
  [ ${#cases[@]} -eq 0 ] && cases=(not_initialised/bare not_initialised/observe
    not_initialised/bare_async not_initialised/observe_async sync_child/bare sync_child/observe sync_child/observe_engine_floor
    async_child_1_poll/bare async_child_1_poll/observe async_child_4_polls/bare
    async_child_4_polls/observe)
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  calling_thread() {
    rm -f "$out"/cg*
    # Only the calls are counted (their function is the one collected; the clocks'
    # calibrations at start-up spin for a while, a varying count). The name is
    # exact, as below.
    TRACED_COUNT="$1/$2" valgrind --tool=callgrind --separate-threads=yes \
      --toggle-collect='traced::traced_counted_calls' \
      --callgrind-out-file="$out/cg" "$bin" >/dev/null 2>&1
    # Thread 1 is the calling thread.
    sed -n 's/^totals: \([0-9]*\).*/\1/p' "$out"/cg-01
  }
  for c in "${cases[@]}"; do
    a=$(calling_thread "$c" "$N1"); b=$(calling_thread "$c" "$N2")
    echo "$c: $(( (b - a) / (N2 - N1) )) instructions per call (calling thread)"
  done
  exit 0
fi
if [ "${1:-}" = --grpc ]; then
  crate=observe-tonic bench=grpc_layer
  shift
fi
cargo bench -p "$crate" --bench "$bench" --no-run 2>/dev/null
bin=$(ls -t target/release/deps/"$bench"-* | grep -v '\.d$' | head -1)
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(bare observe observe-quiet tower-http-otel)
# Counted: the calls (`count_allocations`, which also drains observe's rings) and
# observe's worker handling their records (`worker::drain`: the sinks, the JSON
# lines, the flight recorder). Left out: start-up, with the clock's calibration
# that spins for a varying time, and the worker's work on its 20 ms tick
# (publishing views, slow thresholds), which follows the run's wall time, not its
# requests; together they moved whole-process counts by up to 500 instructions
# per request between runs of one build. The log writer's thread only writes
# whole batches (a few instructions a line). Names are exact: a pattern matching
# nested functions would toggle collection off inside them.
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
    --toggle-collect='observe_bench_support::count_allocations' \
    --toggle-collect='observe_core::pipeline::worker::drain' \
    "$bin" --variant "$1" --iters "$2" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for v in "${variants[@]}"; do
  a=$(count "$v" "$N1"); b=$(count "$v" "$N2")
  echo "$v: $(( (b - a) / (N2 - N1) )) instructions per request"
done
