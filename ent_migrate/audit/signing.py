"""The controller's detached Ed25519 signature of an audit's ``SHA256SUMS`` (``SHA256SUMS.sig``).

The key is a PEM file (PKCS#8 private key to sign, SubjectPublicKeyInfo public key to verify) whose
path the clause file or the command line names: never a key in a configuration.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ent_migrate.errors import ConfigError
from ent_migrate.privatefile import refuse_if_others_can_read

__all__ = ["SIGNATURE_NAME", "generate_key", "load_private_key", "public_key_id", "sign_file", "verify_file"]

SIGNATURE_NAME = "SHA256SUMS.sig"


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        # Whoever can read the controller's key can sign an audit in its name.
        refuse_if_others_can_read(path, "the signing key")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the signing key ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: the signing key must be an Ed25519 key")
    return key


def _load_public(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the public key ({exc.strerror})") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ConfigError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: the public key must be an Ed25519 key")
    return key


def public_key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for the key, recorded in the report (the public key itself is no secret)."""
    import hashlib

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def generate_key(private: Path, public: Path) -> str:
    """Write a new key pair (private key mode 0600); returns its id."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private.touch(mode=0o600, exist_ok=False)
    private.write_bytes(pem)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return public_key_id(key.public_key())


def sign_file(target: Path, key_path: Path) -> tuple[Path, str]:
    """Sign *target*'s bytes; the signature (base64, one line) goes beside it. Returns its path and the key id."""
    key = load_private_key(key_path)
    signature = key.sign(target.read_bytes())
    out = target.with_name(SIGNATURE_NAME)
    out.write_text(base64.b64encode(signature).decode("ascii") + "\n", encoding="ascii")
    return out, public_key_id(key.public_key())


def verify_file(target: Path, signature: Path, public_path: Path) -> str:
    """Raise ConfigError unless *signature* is *target*'s under the public key; returns the key id."""
    key = _load_public(public_path)
    try:
        raw = base64.b64decode(signature.read_text(encoding="ascii").strip(), validate=True)
        data = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{exc.filename}: cannot read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{signature}: not a base64 signature") from None
    try:
        key.verify(raw, data)
    except InvalidSignature:
        raise ConfigError(f"{signature}: the signature does not match {target.name} under this key") from None
    return public_key_id(key)
