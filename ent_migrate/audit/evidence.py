"""What a hand-back says about itself, beyond its records: the interface between a hand-back source
connector (``edifice-archive``, ``package``, ...) and the reversibility audit.

A source connector that can describe the hand-back it reads implements :class:`HandbackSource`
(checked with ``isinstance``, so it is not a contract capability: any source can be audited through
its records alone, and this only adds what records cannot say: which modules the vendor declared,
which files a resource points at but the archive lacks, whether the vendor's signatures hold).
Identifiers in it are the connector's record keys; the audit pseudonymises them before any report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["HandbackInventory", "HandbackSource", "InputFile", "ModuleInventory", "SignatureCheck", "SignatureStatus"]


class SignatureStatus(StrEnum):
    VALID = "valid"  # the vendor's signature of this entry verifies with the configured public key
    INVALID = "invalid"  # it does not: the entry was changed after the vendor signed it, or the key is wrong
    UNSIGNED = "unsigned"  # the hand-back carries no signature for this entry
    NO_KEY = "no_key"  # signed, but no vendor public key is configured: not verifiable


@dataclasses.dataclass(frozen=True, slots=True)
class InputFile:
    """One file of the hand-back as received (path relative to the hand-back's root)."""

    path: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True, slots=True)
class ModuleInventory:
    """One application/module of one user's (or the whole) hand-back."""

    # canonical name: workspace, conversation, blog, wiki, pad, mindmap, timeline, wall, calendar, contacts, ...
    module: str
    declared: bool  # named in the hand-back's own manifest (Edifice Manifest.json)
    present: bool  # its folder/section exists in the hand-back
    items: int  # items read from it
    missing: tuple[str, ...] = ()  # record keys referenced by the module but absent (e.g. a document's file)
    unreadable: tuple[str, ...] = ()  # entries present but not parseable (their problems are in connector.problems)
    # what the module points at outside itself, for the audit to resolve against the whole hand-back
    # (a connector sees one archive, not the directory): shares give "user:<id>" and "group:<id>"
    references: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureCheck:
    entry: str  # the signed entry (an Edifice archive's top-level folder or file)
    status: SignatureStatus


@dataclasses.dataclass(frozen=True, slots=True)
class HandbackInventory:
    """One unit of the hand-back: a user's archive (``owner_id`` set), or the whole delivery (``None``)."""

    owner_id: str | None
    modules: tuple[ModuleInventory, ...]
    signatures: tuple[SignatureCheck, ...] = ()
    inputs: tuple[InputFile, ...] = ()


@runtime_checkable
class HandbackSource(Protocol):
    def handback_inventory(self) -> Iterator[HandbackInventory]:
        """One inventory per unit, streamed (a million-user hand-back is never held whole)."""
        ...
