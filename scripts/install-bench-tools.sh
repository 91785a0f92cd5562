#!/usr/bin/env bash
# Installs the tools the benchmarks compare gonogo with (not gonogo dependencies):
# nmap and sslscan from the distribution, sslyze into its own virtualenv (.venv-bench).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in nmap sslscan; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "gonogo: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "gonogo: installing benchmark tools: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x .venv-bench/bin/sslyze ]; then
  echo "gonogo: installing sslyze into .venv-bench"
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install -q --disable-pip-version-check sslyze
fi
