"""Kit harnesses of the ``rest`` connector: the SCIM profile against scim2-server, Edifice against the entcore
test server. Each target is a fresh tenant named after the test's folder (the same folder gives the same
target: a resumed run opens it again)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import pytest

from ent_migrate.kit import Dataset, Endpoint, Harness
from ent_migrate.kit.harness import Snapshot, apply, operations
from ent_migrate.model import Group, GroupKind, Guardianship, Membership, Person, Record, Structure
from ent_migrate.registry import open_connector
from tests.servers.entcore import EntcoreServer, Tenant
from tests.servers.scim import ScimServer

__all__ = ["EdificeHarness", "ScimHarness", "edifice_endpoint", "scim_endpoint", "seed_entcore", "tenant_of"]


def tenant_of(folder: Path) -> str:
    return "t" + hashlib.sha256(str(folder).encode()).hexdigest()[:16]


def scim_endpoint(server: ScimServer, tenant: str, **options: object) -> tuple[str, dict[str, object]]:
    return f"rest:{server.url(tenant)}", {
        "profile": "scim",
        "authentication": "bearer",
        "token": server.token,
        "ca_file": server.ca_file,
        **options,
    }


class ScimHarness(Harness):
    name = "rest"
    server: ClassVar[ScimServer]

    def target_spec(self, tmp_path: Path) -> Endpoint:
        return scim_endpoint(self.server, tenant_of(tmp_path))

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        # A SCIM source is filled the way any SCIM client fills one: through the API (this connector's writer).
        spec, options = scim_endpoint(self.server, f"s{uuid.uuid4().hex[:16]}")
        with open_connector(spec, options) as target:
            apply(target, operations(dataset.records), dataset.blobs)
        return spec, options


@pytest.fixture
def scim_harness(scim_server: ScimServer) -> None:
    ScimHarness.server = scim_server


# -- Edifice ----------------------------------------------------------------------------------------
ENTCORE_PROFILES = {"student": "Student", "guardian": "Relative", "teacher": "Teacher", "staff": "Personnel"}


def edifice_endpoint(server: EntcoreServer, tenant: str, **options: object) -> tuple[str, dict[str, object]]:
    return f"rest:{server.url(tenant)}", {
        "profile": "edifice",
        "authentication": "oauth2-client",
        "client_id": server.client[0],
        "client_secret": server.client[1],
        "ca_file": server.ca_file,
        **options,
    }


def seed_entcore(tenant: Tenant, records: Iterable[Record]) -> None:
    """Put *records* in an entcore tenant the way its feeder would (structures, classes, accounts, links)."""
    records = list(records)
    uais = {r.uai for r in records if isinstance(r, Structure | Group | Membership)}
    uais |= {u for r in records if isinstance(r, Person) for u in r.structures}
    names = {r.uai: r.name for r in records if isinstance(r, Structure)}
    for uai in sorted(uais):
        tenant.add_structure(uai, names.get(uai, ""))
    groups: dict[tuple[str, str], str] = {}
    for r in records:
        if isinstance(r, Group):
            add = tenant.add_class if r.group_kind is GroupKind.CLASS else tenant.add_group
            groups[(r.uai, r.code)] = add(r.uai, r.code)
    ids: dict[str, str] = {}
    for r in records:
        if isinstance(r, Person):
            ids[r.id] = tenant.add_user(
                r.id,
                ENTCORE_PROFILES[r.profile],
                r.first_name,
                r.last_name,
                r.structures,
                login=r.login or f"{r.id}.login",
                email=r.emails[0] if r.emails else None,
            )
    for r in records:
        if isinstance(r, Membership) and r.person_id in ids and (r.uai, r.group_code) in groups:
            gid = groups[(r.uai, r.group_code)]
            (tenant.classes.get(gid) or tenant.groups[gid])["users"].add(ids[r.person_id])
        elif isinstance(r, Guardianship) and r.student_id in ids and r.guardian_id in ids:
            tenant.related.add((ids[r.student_id], ids[r.guardian_id]))


class EdificeHarness(Harness):
    name = "rest"
    server: ClassVar[EntcoreServer]

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        name = f"s{uuid.uuid4().hex[:16]}"
        seed_entcore(self.server.tenant(name), dataset.records)
        return edifice_endpoint(self.server, name)

    def target_spec(self, tmp_path: Path) -> Endpoint:
        return edifice_endpoint(self.server, tenant_of(tmp_path))

    def expected(self, record: Record) -> Record | None:
        if isinstance(record, Structure):
            return Structure(uai=record.uai, name=record.name or record.uai)
        if isinstance(record, Person):
            if not record.structures:
                return None  # entcore lists accounts by structure only
            return Person(
                id=record.id,
                profile=record.profile,
                last_name=record.last_name,
                first_name=record.first_name,
                login=record.login or f"{record.id}.login",
                emails=record.emails[:1],
                structures=tuple(sorted(set(record.structures))),
            )
        if isinstance(record, Membership):
            return dataclasses.replace(record, subject=None)
        if isinstance(record, Guardianship):
            return dataclasses.replace(record, legal_level=None, kinship=None)
        if isinstance(record, Group):
            return Group(uai=record.uai, code=record.code, group_kind=record.group_kind, name=record.code)
        return None  # functions are not read

    def expect(self, records: Iterable[Record]) -> Snapshot:
        records = list(records)
        listed = {r.id for r in records if isinstance(r, Person) and r.structures}
        known = {r.id for r in records if isinstance(r, Person)}
        groups = {(r.uai, r.code) for r in records if isinstance(r, Group)}

        def readable(r: Record) -> bool:
            if isinstance(r, Guardianship):  # read from the guardian's children: a guardian must be listed
                return r.guardian_id in listed and r.student_id in known
            if isinstance(r, Membership):
                return r.person_id in known and (r.uai, r.group_code) in groups
            return True

        kept = [r for r in records if readable(r)]
        return super().expect(kept)


@pytest.fixture
def edifice_harness(entcore_server: EntcoreServer) -> None:
    EdificeHarness.server = entcore_server
