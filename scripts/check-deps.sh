#!/usr/bin/env bash
# Checks the dependency invariants ARCHITECTURE.md states, from Cargo.lock (offline):
#  - one version of the opentelemetry family and of tonic in the build;
#  - observe-core never depends on axum;
#  - observe-core reaches tonic only through its opt-in `grpc` feature, and
#    observe-axum's default features do not turn it on;
#  - observe-core's layers: no module imports a higher layer, and the only import
#    cycle is the application-thread engine's (scripts/check-layers.py).
#  - the declared rust-version is the toolchain CI runs;
#  - the adapters' guides name observe-core only through the adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
cargo metadata --format-version 1 --locked >/dev/null # Cargo.lock is complete and current
dups=$(awk '/^name = /{n=$3} /^version = /{print n, $3}' Cargo.lock | tr -d '"' \
  | grep -E '^(opentelemetry[a-z_-]*|tonic|tonic-[a-z]+|prost) ' | sort -u \
  | awk '{c[$1]++; v[$1]=v[$1]" "$2} END {for (n in c) if (c[n] > 1) print n":"v[n]}')
if [ -n "$dups" ]; then
  echo "check-deps: more than one version of: $dups"; fail=1
fi
if cargo tree -p observe-core --all-features --edges normal --prefix none --format '{p}' | grep -qE '^axum '; then
  echo "check-deps: observe-core depends on axum"; fail=1
fi
if cargo tree -p observe-core --features otlp,http-client,reqwest,gzip --edges normal --prefix none --format '{p}' | grep -qE '^tonic '; then
  echo "check-deps: observe-core pulls tonic without its grpc feature"; fail=1
fi
if cargo tree -p observe-axum --edges normal --prefix none --format '{p}' | grep -qE '^tonic '; then
  echo "check-deps: observe-axum's default features pull tonic (an axum service must not compile it)"; fail=1
fi
python3 scripts/check-layers.py || fail=1
# The declared MSRV is the toolchain CI checks: no older one is installed or tested.
declared=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
actual=$(rustc --version | awk '{print $2}' | cut -d. -f1,2)
if [ "$declared" != "$actual" ]; then
  # A newer toolchain on the CI machine is not the code's fault: say it, do not fail.
  echo "check-deps: warning: Cargo.toml declares rust-version $declared but CI checks with $actual: declare what is tested"
fi
# The adapters' guides compile for a user who depends on the adapter alone: their
# code names observe-core only through the adapter's re-exports.
for guide in docs/axum.md:observe_axum docs/tonic.md:observe_tonic; do
  file=${guide%%:*}; adapter=${guide##*:}
  if awk '/^```rust/{c=1; next} /^```/{c=0} c' "$file" | grep -E 'observe_core::' | grep -vqE "${adapter}::observe_core::"; then
    echo "check-deps: $file names observe_core:: directly; an $adapter user writes ${adapter}::..."; fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "check-deps: one opentelemetry, one tonic; observe-core free of axum, and of tonic without grpc"
exit "$fail"
