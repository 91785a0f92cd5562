#!/bin/sh
# The demo's rollback hook: point nginx back at blue, the release that last passed the gate.
# gonogo runs it on ROLLBACK (with --rollback) and passes the context as GONOGO_* variables;
# GONOGO_PYTHON is the interpreter gonogo runs in, so no PATH is needed.
set -eu
echo "rolling back ${GONOGO_ENVIRONMENT:-demo}: ${GONOGO_TRIGGERS:-no triggers named}"
exec "${GONOGO_PYTHON:-python3}" -m gonogo demo switch blue
