"""Probes: plain functions that observe a deployment and return facts; no pytest inside."""

from __future__ import annotations
