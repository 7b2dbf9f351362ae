"""The CCTP reversibility audit: a hand-back checked clause by clause (REVERSIBILITY.md §1)."""

from __future__ import annotations

from ent_migrate.audit.evidence import (
    HandbackInventory,
    HandbackSource,
    InputFile,
    ModuleInventory,
    SignatureCheck,
    SignatureStatus,
)

__all__ = ["HandbackInventory", "HandbackSource", "InputFile", "ModuleInventory", "SignatureCheck", "SignatureStatus"]
