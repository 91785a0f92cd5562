#!/usr/bin/env bash
# Installs the named Debian/Ubuntu packages that are not installed yet; does nothing (and
# runs no apt-get update) when all are present. Usage: apt-install-missing.sh PACKAGE...
set -euo pipefail

missing=()
for package in "$@"; do
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
