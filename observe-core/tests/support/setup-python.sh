#!/usr/bin/env bash
# Creates (once) the virtualenv the OTLP end-to-end tests use, with the packages in
# requirements.txt, and prints the path of its python. Idempotent and safe to run
# concurrently: a stamp holding the requirements' hash says the venv is complete.
#
#   usage: setup-python.sh <venv-dir>
#
# The tests call it with the cargo target's tmp dir (target/tmp/otlp-venv). Needs
# python3 with venv and network access to PyPI the first time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:?usage: setup-python.sh <venv-dir>}"
req="$here/requirements.txt"
python="${PYTHON:-python3}"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$want" ]; then
    echo "$venv/bin/python"
    exit 0
fi
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
echo "$want" > "$venv/.stamp"
echo "$venv/bin/python"
