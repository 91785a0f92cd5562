#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the demo and the project's tests run against.
# Idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

packages=(nginx redis-server nftables iproute2)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "gonogo: need root to install system packages: ${missing[*]}" >&2
  echo "        run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "gonogo: installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
