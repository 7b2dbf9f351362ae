"""Contacts as vCard 3.0, written with ``vobject``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import vobject  # type: ignore[import-untyped]  # vobject ships no type hints and has no stubs package

__all__ = ["to_vcards"]


def to_vcards(contacts: Iterable[Mapping[str, str]]) -> bytes:
    """``{"uid", "first_name", "last_name", "email"?}`` records -> concatenated vCards."""
    out = []
    for contact in contacts:
        card = vobject.vCard()
        card.add("uid").value = contact["uid"]
        card.add("n").value = vobject.vcard.Name(
            family=contact.get("last_name", ""), given=contact.get("first_name", "")
        )
        card.add("fn").value = f"{contact.get('first_name', '')} {contact.get('last_name', '')}".strip()
        if contact.get("email"):
            card.add("email").value = contact["email"]
        out.append(card.serialize())
    return "".join(out).encode()
