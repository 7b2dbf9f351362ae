"""Keyed pseudonyms for reports and logs.

A plain hash of a guessable identifier (INE, login) is reversible by trying candidates, so reports
carry ``HMAC-SHA256(key, identifier)`` truncated, with a key per migration that stays with the data
controller (``[privacy] key = "${ENT_MIGRATE_PSEUDONYM_KEY}"``).
"""

from __future__ import annotations

import hashlib
import hmac
import os

__all__ = ["DEFAULT_KEY_ENV", "Pseudonymizer"]

DEFAULT_KEY_ENV = "ENT_MIGRATE_PSEUDONYM_KEY"


class Pseudonymizer:
    """``p(identifier)`` → ``"p:" + 16 hex digits`` of HMAC-SHA256."""

    def __init__(self, key: bytes | str | None = None, length: int = 16) -> None:
        if key is None:
            key = os.environ.get(DEFAULT_KEY_ENV, "")
        if isinstance(key, str):
            key = key.encode("utf-8")
        # Without a key the pseudonyms are still keyed by a fixed, public salt: stable, but only as
        # strong as a plain hash. Commands warn about it (see cli.app).
        self.keyed = bool(key)
        self._key = key or b"ent-migrate/unkeyed"
        self._length = length

    def __call__(self, identifier: str) -> str:
        digest = hmac.new(self._key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
        return "p:" + digest[: self._length]
