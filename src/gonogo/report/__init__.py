"""Reporters: write what the gate decided, for people and for pipelines; they decide nothing."""

from __future__ import annotations
