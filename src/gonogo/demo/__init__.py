"""A real local deployment (nginx, two API releases, Redis) to point the gate at."""

from __future__ import annotations
