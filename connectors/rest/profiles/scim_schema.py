"""The ENT schema extensions of the SCIM profile, as scim2-models extensions (RFC 7643 §3.3).

A SCIM service that should hold what an ENT needs beyond core User and Group publishes these two
schemas (``/Schemas``) and lists them as extensions of its User and Group resource types; the test
server does exactly that from these classes (:func:`ent_schemas`). Attribute names are the JSON names.

``User`` extension: ``profile``, ``structures`` (UAIs), ``ine`` (where lawful), ``birthDate``,
``birthName``, ``otherFirstNames``, ``sourceIds``, ``generatedUserName``, and the person's links:
``functions`` (uai, code, discipline, label), ``classes`` (uai, code, subject: the memberships) and
``relatives`` (guardian, legalLevel, kinship). ``Group`` extension: ``entKind`` (structure, class,
group), ``uai``, ``code``, ``name``, ``level``, ``type``, ``jointure``, ``city``.
"""

from __future__ import annotations

from typing import Annotated

from scim2_models import URN, CaseExact, ComplexAttribute, Extension, Schema

__all__ = ["ENT_GROUP", "ENT_USER", "EntGroup", "EntUser", "ent_schemas"]

ENT_USER = "urn:ent-migrate:params:scim:schemas:extension:ent:2.0:User"
ENT_GROUP = "urn:ent-migrate:params:scim:schemas:extension:ent:2.0:Group"

Exact = Annotated[str | None, CaseExact.true]


class EntFunction(ComplexAttribute):
    uai: Exact = None
    code: Exact = None
    discipline: Exact = None
    label: Exact = None


class EntClass(ComplexAttribute):
    uai: Exact = None
    code: Exact = None
    subject: Exact = None


class EntRelative(ComplexAttribute):
    guardian: Exact = None  # the guardian's externalId
    legal_level: int | None = None
    kinship: Exact = None


class EntUser(Extension):
    __schema__ = URN(ENT_USER)

    profile: Exact = None
    structures: Annotated[list[str] | None, CaseExact.true] = None
    ine: Exact = None
    birth_date: Exact = None
    birth_name: Exact = None
    other_first_names: Annotated[list[str] | None, CaseExact.true] = None
    source_ids: Annotated[list[str] | None, CaseExact.true] = None
    generated_user_name: bool | None = None
    functions: list[EntFunction] | None = None
    classes: list[EntClass] | None = None
    relatives: list[EntRelative] | None = None


class EntGroup(Extension):
    __schema__ = URN(ENT_GROUP)

    ent_kind: Exact = None
    uai: Exact = None
    code: Exact = None
    name: Exact = None
    level: Exact = None
    type: Exact = None
    jointure: Exact = None
    city: Exact = None


def ent_schemas() -> list[Schema]:
    """The two extension schemas as a SCIM service publishes them."""
    return [EntUser.to_schema(), EntGroup.to_schema()]
