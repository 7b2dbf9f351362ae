"""ent-migrate: move ENT accounts, relations, mail and documents between vendors, and prove nothing was lost."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
