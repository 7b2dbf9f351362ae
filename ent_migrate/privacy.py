"""Keyed pseudonyms for reports and logs.

A plain hash of a guessable identifier (INE, login) is reversible by trying candidates, so reports
carry ``HMAC-SHA256(key, identifier)`` truncated, with a key per migration that stays with the data
controller (``[privacy] key = "${ENT_MIGRATE_PSEUDONYM_KEY}"`` or ``key_file``). There is no unkeyed
fallback: without a key of at least 128 bits nothing runs. Each report names the key by its id (a
fingerprint of the key, never the key), so a reader knows which key made its pseudonyms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from ent_migrate.errors import ConfigError

__all__ = ["DEFAULT_KEY_ENV", "MIN_KEY_BYTES", "Pseudonymizer", "decode_key", "new_key"]

DEFAULT_KEY_ENV = "ENT_MIGRATE_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16  # 128 bits
_HEX = re.compile(r"[0-9a-fA-F]+")
_HOW = (
    "make one with `python3 -c 'import secrets; print(secrets.token_hex(32))'`, keep it with the data "
    f'controller, and pass it as [privacy] key = "${{{DEFAULT_KEY_ENV}}}" or [privacy] key_file = "FILE"'
)


def new_key() -> str:
    """A fresh 256-bit key as 64 hex digits."""
    return secrets.token_hex(32)


def decode_key(value: str | bytes, where: str) -> bytes:
    """The key's bytes from hex (at least 32 digits) or base64 text; raw bytes from a binary key file."""
    if isinstance(value, bytes):
        try:
            text = value.decode("ascii").strip()
        except UnicodeDecodeError:
            text = ""
        if not text:
            if len(value) >= MIN_KEY_BYTES:
                return value
            raise ConfigError(f"{where}: the pseudonym key is empty or too short; {_HOW}")
        value = text
    value = value.strip()
    if not value:
        raise ConfigError(f"{where}: no pseudonym key (reports need keyed pseudonyms); {_HOW}")
    key: bytes | None = None
    if _HEX.fullmatch(value) and len(value) % 2 == 0:
        key = bytes.fromhex(value)
    else:
        try:
            key = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: the pseudonym key must hold at least 128 bits (32 hex digits); {_HOW}")
    return key


class Pseudonymizer:
    """``p(identifier)`` → ``"p:" + 16 hex digits`` of HMAC-SHA256 under the controller's key."""

    def __init__(self, key: bytes, length: int = 16) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(f"the pseudonym key must hold at least 128 bits; {_HOW}")
        # Keyed once: each call copies the HMAC's state instead of deriving its pads from the key
        # again (a report pseudonymises every item's id: a third less per id).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        self._length = length
        #: names the key in reports without revealing it
        self.key_id = "k:" + hashlib.sha256(b"ent-migrate key id\x00" + key).hexdigest()[:16]

    def __call__(self, identifier: str) -> str:
        mac = self._keyed.copy()
        mac.update(identifier.encode("utf-8"))
        return "p:" + mac.hexdigest()[: self._length]
