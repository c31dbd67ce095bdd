#!/usr/bin/env bash
# Runs every test of the workspace, after installing what the tests need.
#   ./scripts/test.sh            everything
#   ./scripts/test.sh -E 'test(propagation)'   extra arguments go to cargo nextest
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

export OBSERVE_TEST_PYTHON="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"

echo "== unit, integration, UI and example tests (cargo nextest)"
cargo nextest run --workspace --all-features --all-targets --no-fail-fast "$@"
echo "== doctests"
cargo test --workspace --all-features --doc -q
