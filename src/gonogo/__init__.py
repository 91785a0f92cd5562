"""gonogo: prove a deployment is what it should be, and answer GO, NO-GO or ROLL BACK."""

from __future__ import annotations

__version__ = "0.1.0"
