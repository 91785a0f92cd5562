#!/usr/bin/env bash
# The rollback scenario end to end, on the running demo (`make demo-rollback` starts it):
# green takes traffic, the gate finds its 5xx ratio and its slow status endpoint, answers
# ROLLBACK, the hook switches nginx back to blue and the smoke checks verify blue.
# Exits with the gate's code: 6 when the rollback ran and blue verified healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a
. .gonogo/demo/demo.env
set +a
.venv/bin/gonogo demo switch green
# Users for as long as the run takes (bounded: the traffic stops by itself after 3 minutes).
.venv/bin/gonogo demo traffic --duration 3m >/dev/null 2>&1 &
users=$!
trap 'kill "$users" 2>/dev/null || true; wait "$users" 2>/dev/null || true' EXIT
status=0
.venv/bin/python -m pytest --env demo -m "not load" --rollback || status=$?
.venv/bin/gonogo demo status | head -1
exit "$status"
