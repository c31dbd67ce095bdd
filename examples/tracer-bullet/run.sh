#!/usr/bin/env bash
# Three services on loopback and a signed tracer bullet through them.
#
# Run with: examples/tracer-bullet/run.sh   (from anywhere; ports with EDGE_PORT,
# ORDERS_PORT, PROVIDER_PORT; the files it writes go under target/tracer-bullet-demo)
#
# It builds the example and the `observe` command, starts the payment provider,
# orders and the edge, fires a signed bullet at the edge with `observe bullet`,
# prints the trace's log lines and the database's checksum before and after, then
# sends the same request without the marker (with curl) to show that one writes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cargo build --quiet -p tracer-bullet -p observe-cli
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug"
work="$root/target/tracer-bullet-demo"
mkdir -p "$work"
rm -f "$work"/*.db "$work"/*.log

key="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
edge_port="${EDGE_PORT:-18080}"
orders_port="${ORDERS_PORT:-18081}"
provider_port="${PROVIDER_PORT:-18082}"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

common=(OBSERVE_LOG_FORMAT=json OBSERVE_LOG_OUTPUT=stdout RUST_LOG=info OBSERVE_INTERNAL_HOSTS=localhost)

"$bin/tracer-bullet" provider --addr "127.0.0.1:$provider_port" >"$work/provider.log" 2>&1 &
pids+=($!)
env "${common[@]}" OTEL_SERVICE_NAME=orders OBSERVE_ADMIN_ADDR="127.0.0.1:$((orders_port + 100))" \
    OBSERVE_TRACER_BULLET_POLICY=trusted OBSERVE_TRUSTED_CALLERS=loopback \
    "$bin/tracer-bullet" orders --addr "127.0.0.1:$orders_port" --db "$work/orders.db" \
    --provider "http://127.0.0.1:$provider_port" >"$work/orders.log" 2>&1 &
pids+=($!)
env "${common[@]}" OTEL_SERVICE_NAME=edge OBSERVE_ADMIN_ADDR="127.0.0.1:$((edge_port + 100))" \
    OBSERVE_TRACER_BULLET_POLICY=signed OBSERVE_TRACER_BULLET_KEY="$key" \
    "$bin/tracer-bullet" edge --addr "127.0.0.1:$edge_port" --orders "http://localhost:$orders_port" \
    >"$work/edge.log" 2>&1 &
pids+=($!)

for port in "$provider_port" "$orders_port" "$edge_port"; do
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done

checksum() { sha256sum "$work/orders.db" | cut -c1-16; }
echo "== database before: $(checksum)"
echo "== observe bullet -X POST http://127.0.0.1:$edge_port/checkout"
set +e
OBSERVE_TRACER_BULLET_KEY="$key" "$bin/observe" bullet -X POST \
    -H 'content-type: application/json' -d '{"sku":"A-1","cents":1250}' \
    "http://127.0.0.1:$edge_port/checkout" | tee "$work/bullet.txt"
status=${PIPESTATUS[0]}
set -e
echo "== database after the bullet: $(checksum)"
echo "== payment provider received: $(curl -s "http://127.0.0.1:$provider_port/count" 2>/dev/null || echo '?')"
trace="$(sed -n 's/^trace_id: //p' "$work/bullet.txt")"
sleep 0.2 # the log writers write in batches
echo "== the trace $trace in the services' logs"
grep -h "\"trace_id\":\"$trace\"" "$work/edge.log" "$work/orders.log" || true

if command -v curl >/dev/null; then
    echo "== the same request without the marker"
    curl -s -X POST -H 'content-type: application/json' -d '{"sku":"A-1","cents":1250}' \
        "http://127.0.0.1:$edge_port/checkout"
    echo
    echo "== database after: $(checksum); payment provider received: $(curl -s "http://127.0.0.1:$provider_port/count")"
fi
exit "$status"
