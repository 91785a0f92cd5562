#!/usr/bin/env bash
# Installs the tools the benchmarks compare gonogo with (not gonogo dependencies):
# nmap, sslscan, curl and wrk from the distribution, sslyze into its own virtualenv (.venv-bench).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-install-missing.sh nmap sslscan curl wrk
if [ ! -x .venv-bench/bin/sslyze ]; then
  echo "gonogo: installing sslyze into .venv-bench"
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install -q --disable-pip-version-check sslyze
fi
