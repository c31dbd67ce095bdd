#!/usr/bin/env bash
# Installs what observe's tests need, quietly and idempotently:
#   Debian: prometheus (promtool and a server to scrape), chromium + chromedriver
#           (the /observe page tests), wrk (the HTTP benchmark), python3-venv,
#           protobuf-compiler (protoc, for tonic-prost-build: examples/grpc and
#           observe-tonic's test protocol);
#   PyPI (into .venv): rotel (an OTLP collector), selenium (drives chromium for the
#           /observe page test), opentelemetry-proto + grpcio (OTLP
#           receivers decoding with OpenTelemetry's own definitions), the Python
#           OpenTelemetry SDK and instrumentations (cross-language peers).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(prometheus chromium chromium-driver wrk protobuf-compiler)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=.venv
py_requirements=scripts/requirements-test.txt
stamp="$venv/.installed-$(sha256sum "$py_requirements" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python test dependencies into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$py_requirements"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi

command -v cargo-nextest >/dev/null || cargo install -q --locked cargo-nextest
