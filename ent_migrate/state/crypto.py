"""Encryption at rest of the records the state store keeps (``items.payload``, ``items.target_payload``).

Those columns hold every name, birth date and INE being migrated. With ``[state] encryption_key =
"${ENT_MIGRATE_STATE_KEY}"`` (at least 128 bits; on as soon as a key is configured) each value is
sealed with AES-256-GCM (``cryptography``) under a key derived from it, a fresh 96-bit nonce per value,
and stored as ``{"enc": "v1:<base64 nonce+ciphertext>"}`` in the same JSON column (and an INE kept for
lookups in ``identities`` becomes a keyed digest): the schema does
not change, ``IS NULL`` filters still work, and a column copied in SQL (map's copy of non-person
records) stays readable, since each value carries its own nonce.

The cipher is attached to the engine's dialect (a type decorator sees only the dialect), so two stores
opened in one process keep their own keys. A store written encrypted and opened without the key is an
error that says so; values written before a key was set are read as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Dialect, Engine
from sqlalchemy.types import TypeDecorator

from ent_migrate.errors import ConfigError
from ent_migrate.model import may_hold_long_int

__all__ = ["EncryptedJSON", "PayloadCipher", "attach_cipher", "cipher_of", "json_dumps", "json_loads"]

_ATTR = "_ent_migrate_cipher"
_PREFIX = "v1:"


def json_dumps(value: Any) -> str:
    """The engine's JSON encoder for the payload columns: orjson (the plan profile's top cost was the
    stdlib's encoder, once per column per row); what orjson refuses (an int past 64 bits) goes through
    json. Both give compact JSON that either decoder reads, so stores written before stay readable."""
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def json_loads(text: str | bytes) -> Any:
    """The engine's JSON decoder: what ``json.loads`` gives, always. orjson is the fast path (the plan
    profile's decoding of every payload read back, issue 15), but it reads an int past 64 bits as a
    float without a word, and refuses what json accepts (NaN, 1e400, a lone surrogate). So a text
    with a 19-digit run goes to json, and so does any text orjson refuses: json then reads it, or
    raises its own error, exactly as before (tests/engine/test_canonical_json.py)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if not may_hold_long_int(raw):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class PayloadCipher:
    def __init__(self, key: bytes) -> None:
        # A derived key: the configured secret is never used as is, and is never stored.
        self._aead = AESGCM(hashlib.sha256(b"ent-migrate state payload\x00" + key).digest())
        self._blind_key = hashlib.sha256(b"ent-migrate state blind\x00" + key).digest()

    def blind(self, value: str) -> str:
        """A keyed digest standing for *value* where only equality is needed (an INE in identities)."""
        # 96 bits in 16 characters: the identities.ine column's width, and no collision in an académie.
        digest = hmac.new(self._blind_key, value.encode("utf-8"), hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(digest).decode("ascii")

    def seal(self, value: Any) -> dict[str, str]:
        nonce = os.urandom(12)
        plain = json_dumps(value).encode("utf-8")  # orjson: sealing is on every payload write
        sealed = self._aead.encrypt(nonce, plain, b"ent-migrate payload")
        return {"enc": _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")}

    def open(self, stored: str) -> Any:
        raw = base64.b64decode(stored[len(_PREFIX) :])
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], b"ent-migrate payload")
        except InvalidTag:
            raise ConfigError(
                "the state store was encrypted with another key: set [state] encryption_key "
                "to the key it was written with"
            ) from None
        return json_loads(plain)


def attach_cipher(engine: Engine, cipher: PayloadCipher | None) -> None:
    """Make *engine* seal the payload columns it writes with *cipher* (None: write them in clear)."""
    setattr(engine.dialect, _ATTR, cipher)


def _cipher(dialect: Dialect) -> PayloadCipher | None:
    found = getattr(dialect, _ATTR, None)
    return found if isinstance(found, PayloadCipher) else None


def cipher_of(engine: Engine) -> PayloadCipher | None:
    return _cipher(engine.dialect)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON column whose values are sealed when the engine has a cipher."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        cipher = _cipher(dialect)
        if value is None or cipher is None:
            return value
        return cipher.seal(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        # SQLite hands back the JSON text: decode and open each value in one call, not through the
        # three nested processors SQLAlchemy chains (a measurable share of a plan, which reads every
        # payload back several times: issue 15). Other back-ends keep SQLAlchemy's chain (psycopg
        # decodes JSON itself).
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        open_value = self.process_result_value

        def process(value: Any) -> Any:
            return None if value is None else open_value(json_loads(value), dialect)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if (
            isinstance(value, dict)
            and len(value) == 1
            and isinstance(value.get("enc"), str)
            and value["enc"].startswith(_PREFIX)
        ):
            cipher = _cipher(dialect)
            if cipher is None:
                raise ConfigError(
                    "the state store's records are encrypted: set [state] encryption_key = "
                    '"${ENT_MIGRATE_STATE_KEY}" with the key they were written with'
                )
            return cipher.open(value["enc"])
        return value
