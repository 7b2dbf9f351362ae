"""A vendor's RSA key pair as PEM files, for the ``archive.signature`` tests (writer signs, reader verifies)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["write_rsa_pair"]


def write_rsa_pair(folder: Path, name: str) -> tuple[rsa.RSAPrivateKey, Path, Path]:
    """A fresh 2048-bit key, and the paths of its private (PKCS#8, as entcore loads it) and public PEMs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key, private, public
