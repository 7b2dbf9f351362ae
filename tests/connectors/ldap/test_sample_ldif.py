"""The ESCO sample LDIF (../shared/samples/ldif/, written by another project) loads into slapd with our test
schema, with ``ldapadd``, and the ``ldap`` source reads it back with no error and the right counts.

The expected figures are computed here from the LDIF itself (python-ldap's LDIF parser), independently
of the connector's mapping code."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldif import LDIFRecordList  # type: ignore[import-untyped]  # python-ldap ships no stubs for ldif

from ent_migrate.connectors.ldap import LdapConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.model import Function, Group, Guardianship, Membership, Person, Profile, Record, Structure
from ent_migrate.problems import Severity
from tests.servers.slapd import SAMPLE_BASE, SlapdServer

FILES = ("default-structures.ldif", "default-personnes-short.ldif")


def _entries(samples: Path) -> list[tuple[str, dict[str, list[str]]]]:
    out: list[tuple[str, dict[str, list[str]]]] = []
    for name in FILES:
        with (samples / "ldif" / name).open("rb") as fh:
            parser = LDIFRecordList(fh)
            parser.parse()
        out.extend((dn, {k: [v.decode() for v in vs] for k, vs in attrs.items()}) for dn, attrs in parser.all_records)
    return out


@pytest.fixture(scope="module")
def sample(slapd: SlapdServer, shared_samples: Path) -> Iterator[LdapConnector]:
    admin = slapd.admin(SAMPLE_BASE)
    try:
        for ou in ("structures", "people"):
            admin.add_s(f"ou={ou},{SAMPLE_BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])])
    finally:
        admin.unbind_s()
    secret = slapd.root / "sample-admin.pw"
    secret.write_text(slapd.password)
    secret.chmod(0o600)
    for name in FILES:
        done = subprocess.run(
            [
                "ldapadd",
                "-x",
                "-H",
                f"ldaps://127.0.0.1:{slapd.ldaps_port}",
                "-D",
                slapd.sample_admin_dn,
                "-y",
                str(secret),
                "-f",
                str(shared_samples / "ldif" / name),
            ],
            env=slapd.tool_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, f"ldapadd refused {name}: {done.stderr[-2000:]}"
    connector = LdapConnector(slapd.url(SAMPLE_BASE), slapd.options(bind_dn=slapd.sample_admin_dn))
    yield connector
    connector.close()


def _read(connector: LdapConnector) -> list[Record]:
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()]


def test_the_sample_reads_back_with_the_right_counts(sample: LdapConnector, shared_samples: Path) -> None:
    entries = _entries(shared_samples)
    records = _read(sample)
    counts = Counter(type(r).__name__ for r in records)
    people = [attrs for _, attrs in entries if "ENTPerson" in attrs.get("objectClass", [])]
    structures = [attrs for _, attrs in entries if "ENTStructure" in attrs.get("objectClass", [])]
    assert counts["Structure"] == len(structures) == 2
    assert counts["Person"] == len(people) == 77
    profiles = Counter(r.profile for r in records if isinstance(r, Person))
    assert profiles == {Profile.STUDENT: 73, Profile.TEACHER: 3, Profile.STAFF: 1}
    assert counts["Function"] == len({v for p in people for v in p.get("ENTPersonFonctions", [])}) == 6

    uai = {dn.lower(): attrs["ENTStructureUAI"][0] for dn, attrs in entries if attrs in structures}
    expected: set[tuple[str, str, str, str | None]] = set()
    for attrs in people:
        pid = attrs["ENTPersonJointure"][0]

        def links(name: str, attrs: dict[str, list[str]] = attrs) -> list[list[str]]:
            return [v.split("$") for v in attrs.get(name, [])]

        for parts in links("ENTEleveClasses") + links("ENTEleveGroupes"):
            expected.add((pid, uai[parts[0].lower()], parts[1], None))
        subject = links("ENTAuxEnsClassesMatieres") + links("ENTAuxEnsGroupesMatieres")
        for parts in subject:
            expected.add((pid, uai[parts[0].lower()], parts[1], parts[2]))
        covered = {(p[0], p[1]) for p in subject}
        for parts in links("ENTAuxEnsClasses") + links("ENTAuxEnsGroupes"):
            if (parts[0], parts[1]) not in covered:
                expected.add((pid, uai[parts[0].lower()], parts[1], None))
    memberships = {(r.person_id, r.uai, r.group_code, r.subject) for r in records if isinstance(r, Membership)}
    assert memberships == expected
    assert counts["Membership"] == len(expected)
    # No group entries in this directory: its classes and groups are the ones its people name.
    assert {(r.uai, r.code) for r in records if isinstance(r, Group)} == {(m[1], m[2]) for m in expected}
    assert counts["Guardianship"] == 0  # the sample holds no parents (FORMATS.md §8)
    assert not [p.code for p in sample.problems if p.severity is Severity.ERROR]
    assert sample.problems.count("ine.missing") == 73  # the ESCO sample carries no ENTEleveINE


def test_one_pupil_teacher_and_school_exactly(sample: LdapConnector) -> None:
    records = _read(sample)
    pupil = next(r for r in records if isinstance(r, Person) and r.id == "AC-RENNES$128407")
    assert pupil == Person(
        id="AC-RENNES$128407",
        profile=Profile.STUDENT,
        last_name="COLIN",
        first_name="Corentin",
        birth_date=dt.date(1998, 7, 9),
        emails=("corentin.colin@netocentre.fr",),
        structures=("0290009C",),
        login="corentin.colin",
        other_first_names=("Corentin",),
        civility="M",
    )
    assert Membership(person_id=pupil.id, uai="0290009C", group_code="TS2") in records
    school = next(r for r in records if isinstance(r, Structure) and r.uai == "0290009C")
    assert school == Structure(
        uai="0290009C",
        name="LG-DE L'IROISE-ac-RENNES",
        type="LYCEE D ENSEIGNEMENT GENERAL",
        jointure="AC-RENNES$2828",
        city="BREST CEDEX 2",
    )
    english = [r for r in records if isinstance(r, Function) and r.code == "ENS" and r.discipline == "L0422"]
    # the English teacher teaches in both schools: one function in each
    assert sorted((f.uai, f.label) for f in english) == [("0290009C", "ANGLAIS"), ("0291595B", "ANGLAIS")]
    assert not any(isinstance(r, Guardianship) for r in records)


def test_the_sample_as_a_source_of_a_migration_into_a_fresh_target(
    sample: LdapConnector, slapd: SlapdServer, ldap_base: str
) -> None:
    """Source → our target → read back: every record the sample gives comes back identical (the
    sample's vendor attributes are not part of the model and are not copied)."""
    records = _read(sample)
    order = {Structure: 0, Person: 1, Function: 2, Group: 3, Membership: 4, Guardianship: 5}
    with LdapConnector(slapd.url(ldap_base), slapd.options(concurrency=2)) as target:
        for n, record in enumerate(sorted(records, key=lambda r: order[type(r)])):
            target.write(Operation(f"op-{n}", Action.CREATE, record.kind, record.key, record), None)
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as again:
        assert isinstance(again, LdapConnector)  # __enter__ is typed as the base Connector
        back = _read(again)
    assert sorted(map(repr, back)) == sorted(map(repr, records))


def test_a_vendor_variant_is_configuration(sample: LdapConnector, slapd: SlapdServer, tmp_path: Path) -> None:
    """ESCO keeps UAIs themselves in ESCOUAI: a mapping file of two keys reads the attachments from there.
    ESCOUAI lists every school of a person, ENTPersonStructRattach only the main one."""
    variant = tmp_path / "esco.toml"
    variant.write_text('[person]\nstructures = "ESCOUAI"\nstructure_values = "uai"\n', encoding="utf-8")
    with LdapConnector(
        slapd.url(SAMPLE_BASE), slapd.options(bind_dn=slapd.sample_admin_dn, mapping=str(variant))
    ) as esco:
        by_variant = {r.id: r.structures for r in esco.read_accounts() if isinstance(r, Person)}
    by_default = {r.id: r.structures for r in sample.read_accounts() if isinstance(r, Person)}
    assert by_variant.keys() == by_default.keys()
    assert len(by_variant) == 77
    assert all(set(by_default[pid]) <= set(by_variant[pid]) for pid in by_default)
    assert by_variant["AC-RENNES$2403"] == ("0290009C", "0291595B")  # a teacher of both schools
