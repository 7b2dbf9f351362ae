"""The target side beyond the kit: writes spread over several connections and all unbound on close,
each record replacing only its own values, deletes of links, a class that becomes a group, and the
mapping file's checks."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest

from ent_migrate.connectors.ldap import LdapConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.errors import ConfigError
from ent_migrate.model import (
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    Profile,
    Record,
    RecordKind,
    Structure,
)
from tests.servers.slapd import SlapdServer

UAI = "0350012Y"


def _op(record: Record, action: Action = Action.CREATE) -> Operation:
    return Operation(f"op-{record.kind}-{record.key}", action, record.kind, record.key, record)


def _read(server: SlapdServer, base: str) -> set[Record]:
    with LdapConnector(server.url(base), server.options()) as source:
        return {*source.read_accounts(), *source.read_groups(), *source.read_relations()}


def test_writes_use_several_connections_and_close_unbinds_them_all(slapd: SlapdServer, ldap_base: str) -> None:
    people = [Person(id=f"p{i}", profile=Profile.STUDENT, last_name="Martin", first_name=f"Lou{i}") for i in range(120)]
    target = LdapConnector(slapd.url(ldap_base), slapd.options(concurrency=4))
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda p: target.write(_op(p), None), people))
    opened = target.pool.open_connections
    target.finish()  # nothing to commit: the entries are there already
    assert 2 <= opened <= 4
    assert {r for r in _read(slapd, ldap_base) if isinstance(r, Person)} == set(people)
    target.close()
    assert target.pool.open_connections == 0


def test_each_record_replaces_only_its_own_values(slapd: SlapdServer, ldap_base: str) -> None:
    school = Structure(uai=UAI, name="Collège", type="COLLEGE")
    pupil = Person(id="p", profile=Profile.STUDENT, last_name="Martin", first_name="Lou", structures=(UAI,))
    parent = Person(id="g", profile=Profile.GUARDIAN, last_name="Martin", first_name="Sam")
    teacher = Person(id="t", profile=Profile.TEACHER, last_name="Durand", first_name="Ana", structures=(UAI,))
    records: list[Record] = [
        school,
        pupil,
        parent,
        teacher,
        Function(person_id="t", uai=UAI, code="ENS", discipline="L0201", label="Lettres"),
        Function(person_id="t", uai=UAI, code="DIR", label="Principale adjointe"),
        Group(uai=UAI, code="5A", name="5e A"),
        Group(uai=UAI, code="LAT", group_kind=GroupKind.GROUP, name="Latin"),
        Membership(person_id="p", uai=UAI, group_code="5A"),
        Membership(person_id="p", uai=UAI, group_code="LAT"),
        Membership(person_id="t", uai=UAI, group_code="5A", subject="Français"),
        Membership(person_id="t", uai=UAI, group_code="LAT"),
        Guardianship(guardian_id="g", student_id="p", legal_level=1, kinship="20"),
    ]
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        for record in records:
            target.write(_op(record), None)
    assert _read(slapd, ldap_base) == set(records)

    renamed = Person(id="p", profile=Profile.STUDENT, last_name="Martin-Roy", first_name="Lou", structures=(UAI,))
    relabelled = Function(person_id="t", uai=UAI, code="DIR", label="Principal")
    stronger = Guardianship(guardian_id="g", student_id="p", legal_level=2, kinship="20")
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        for record in (renamed, relabelled, stronger):
            target.write(_op(record, Action.UPDATE), None)
        target.delete(RecordKind.MEMBERSHIP, "p|0350012Y$LAT|")
        target.delete(RecordKind.FUNCTION, "t|0350012Y|ENS|L0201")
        target.delete(RecordKind.MEMBERSHIP, "t|0350012Y$5A|Français")
    changed = {pupil: renamed, records[5]: relabelled, records[-1]: stronger}
    gone = {records[4], records[9], records[10]}
    expected = {changed.get(r, r) for r in records if r not in gone}
    assert _read(slapd, ldap_base) == expected

    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        target.delete(RecordKind.GUARDIANSHIP, "g|p")
        target.delete(RecordKind.PERSON, "g")
    assert _read(slapd, ldap_base) == expected - {stronger, parent}


def test_a_class_that_becomes_a_group_is_recreated(slapd: SlapdServer, ldap_base: str) -> None:
    before = Group(uai=UAI, code="ATELIER", group_kind=GroupKind.CLASS, name="Atelier")
    after = Group(uai=UAI, code="ATELIER", group_kind=GroupKind.GROUP, name="Atelier théâtre")
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        target.write(_op(before), None)
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        target.write(_op(after, Action.UPDATE), None)
    assert _read(slapd, ldap_base) == {after}


def test_a_person_without_last_name_is_a_declared_rule() -> None:
    target = LdapConnector("ldaps://127.0.0.1:1/dc=ent,dc=example", {})
    assert target.rules().required == {RecordKind.PERSON: ("last_name",)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[persons]\nid = "uid"\n', r"unknown section \[persons\]"),
        ('[person]\nidentifier = "uid"\n', r"unknown key \[person\] identifier"),
        ("[person]\nid = 3\n", "person.id must be str"),
        ('[person]\nstructure_values = "siren"\n', "structure_values"),
        ('[profiles]\norder = ["student"]\n', "profiles.order"),
        ('[profiles.codes]\nNational_ELV = "pupil"\n', "maps codes to one of"),
        ("[person\n", "not valid TOML"),
    ],
)
def test_a_bad_mapping_file_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "variant.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        LdapConnector("ldaps://127.0.0.1/dc=ent,dc=example", {"mapping": str(path)})
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"page_size": 0}, "page_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"reconnect_attempts": -1}, "reconnect"),
        ({"bind_pasword": "x"}, "unknown option bind_pasword"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LdapConnector("ldaps://127.0.0.1/dc=ent,dc=example", options, where="[target.b] (ldap)")
