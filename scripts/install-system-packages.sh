#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the demo and the project's tests run against.
# Idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

packages=(nginx redis-server nftables iproute2)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
exec "$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"
