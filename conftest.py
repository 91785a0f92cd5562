"""The suite's fixture modules; the engine itself comes from the gonogo pytest plugin."""

from __future__ import annotations

pytest_plugins = [
    "fixtures.http",
    "fixtures.edge",
    "fixtures.inside",
    "fixtures.api",
    "fixtures.load",
    "fixtures.baseline",
    "fixtures.metrics",
    "fixtures.watch",
]
