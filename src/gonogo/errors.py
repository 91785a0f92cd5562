"""The exceptions gonogo raises, under one root so callers can catch them together.

GonogoError
├── EnvironmentFileError     the environment file cannot be read, parsed or validated
├── TargetUnreachableError   a probe could not get an answer from its target
│   └── TargetTimeoutError   ... because the answer did not come (whole) by the deadline
├── FirewallPolicyError      a firewall tool's output is not what its parser expects
└── DemoError                the demo deployment could not be started, switched or stopped
"""

from __future__ import annotations

__all__ = [
    "DemoError",
    "EnvironmentFileError",
    "FirewallPolicyError",
    "GonogoError",
    "TargetTimeoutError",
    "TargetUnreachableError",
]


class GonogoError(Exception):
    """Root of every error gonogo raises on purpose; its message is meant for the operator."""


class EnvironmentFileError(GonogoError):
    """The environment file is unreadable, not YAML, or breaks the schema."""


class TargetUnreachableError(GonogoError):
    """A probe got no usable answer: refused, timed out, TLS failed, name did not resolve."""


class TargetTimeoutError(TargetUnreachableError):
    """No connection, or no complete answer, by the deadline: asking the same target again
    would most likely cost the same wait, so probes that ask several times stop here."""


class FirewallPolicyError(GonogoError):
    """`nft -j`, `iptables-save` or `ufw status` output that cannot be read as a policy."""


class DemoError(GonogoError):
    """The demo deployment did not reach the state asked of it."""
