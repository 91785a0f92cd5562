"""`python -m gonogo`: the `gonogo` command without relying on PATH (a rollback hook can call
`"$GONOGO_PYTHON" -m gonogo demo switch blue` from any shell)."""

from __future__ import annotations

from gonogo.cli import main

raise SystemExit(main())
