#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the demo and the project's tests run against.
# Idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

# docker.io: the engine the container checks are tested against (gonogo starts its own
# dockerd when none runs); busybox-static: the root filesystem of the local images;
# iptables: its iptables-save is one of the firewall policy sources; postgresql: the demo's
# database and, with mariadb-server and rabbitmq-server, the dependency probes' real targets
# (gonogo starts instances of its own, on ports of its own, whatever the distribution's
# services do); prometheus: the demo's metrics and the gate's queries; chromium: renders the
# HTML report headless in a test.
packages=(nginx redis-server nftables iproute2 docker.io busybox-static iptables
  postgresql mariadb-server rabbitmq-server prometheus chromium)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
exec "$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"
