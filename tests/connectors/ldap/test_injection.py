"""Hostile names in ids, RDNs and filters: escaped everywhere (RFC 4514 DNs, RFC 4515 filters), read back
exactly, and never matching anything but themselves."""

from __future__ import annotations

import ldap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.ldap import LdapConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.errors import TerminalError
from ent_migrate.model import Group, GroupKind, Membership, Person, Profile, Record, Structure
from tests.servers.slapd import SlapdServer

UAI = "0350012Y"
HOSTILE = [
    "O'Brien*)(uid=*",
    "Dupont, Jean+x",
    "#leading hash",
    "trailing space ",
    "*",
    'a\\b=c;d<e>"f"',
    " leading space",
    "O'Brien",
]


def _op(record: Record) -> Operation:
    return Operation(f"op-{record.kind}-{record.key}", Action.CREATE, record.kind, record.key, record)


def _people_dns(server: SlapdServer, base: str) -> dict[str, str]:
    conn = server.admin()
    try:
        found = conn.search_s(
            f"ou=people,{base}", ldap.SCOPE_ONELEVEL, "(objectClass=ENTPerson)", ["ENTPersonJointure"]
        )
    finally:
        conn.unbind_s()
    return {attrs["ENTPersonJointure"][0].decode(): dn for dn, attrs in found}


def _read_all(server: SlapdServer, base: str) -> set[Record]:
    with LdapConnector(server.url(base), server.options()) as source:
        return {*source.read_accounts(), *source.read_groups(), *source.read_relations()}


def test_hostile_names_round_trip_in_ids_names_and_group_codes(slapd: SlapdServer, ldap_base: str) -> None:
    records: list[Record] = [Structure(uai=UAI, name="Dupont, Jean+x", type="#COLLEGE ")]
    for n, name in enumerate(HOSTILE):
        records.append(
            Person(
                id=name,
                profile=Profile.STUDENT,
                last_name=name,
                first_name=name.strip() or "x",
                other_first_names=(name,),
                structures=(UAI,),
                login=name,
            )
        )
        code = f"{name}{n}".replace("$", "")
        records.append(Group(uai=UAI, code=code, group_kind=GroupKind.GROUP, name=name))
        records.append(Membership(person_id=name, uai=UAI, group_code=code))
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        for record in records:
            target.write(_op(record), None)
    assert _read_all(slapd, ldap_base) == set(records)
    dns = _people_dns(slapd, ldap_base)
    assert sorted(dns) == sorted(HOSTILE), "an id matched another, or was cut"
    for name, dn in dns.items():  # each DN parses back to exactly its id
        assert ldap.dn.str2dn(dn)[0][0][1] == name


def test_a_filter_with_a_hostile_key_matches_that_key_only(slapd: SlapdServer, ldap_base: str) -> None:
    """With ``lookup_on_create`` the target looks an entry up by its key before creating it, to find one
    another writer made after the target read the directory. ``O'Brien*)(uid=*`` unescaped would match
    O'Brien's entry and rename it: it must not."""
    people = f"ou=people,{ldap_base}"
    first = Person(id="first", profile=Profile.GUARDIAN, last_name="Martin", first_name="Lou")
    target = LdapConnector(slapd.url(ldap_base), slapd.options(lookup_on_create=True))
    try:
        target.write(_op(first), None)  # the target has now read what the directory holds
        admin = slapd.admin()
        try:  # someone else adds O'Brien, at a DN of their own
            admin.add_s(
                f"uid=foreign,{people}",
                [
                    ("objectClass", [b"ENTPerson", b"ENTAuxPersRelEleve"]),
                    ("uid", [b"foreign"]),
                    ("ENTPersonJointure", [b"O'Brien"]),
                    ("sn", [b"O'Brien"]),
                    ("cn", [b"O'Brien"]),
                    ("ENTPersonProfils", [b"National_TUT"]),
                ],
            )
        finally:
            admin.unbind_s()
        hostile = Person(id="O'Brien*)(uid=*", profile=Profile.GUARDIAN, last_name="X", first_name="Y")
        target.write(_op(hostile), None)
        dns = _people_dns(slapd, ldap_base)
        assert dns["O'Brien"] == f"uid=foreign,{people}", "the hostile key's lookup matched O'Brien"
        assert set(dns) == {"first", "O'Brien", "O'Brien*)(uid=*"}
        # Now O'Brien is written by us: found by its (escaped) key, renamed to its deterministic DN, not copied.
        obrien = Person(id="O'Brien", profile=Profile.GUARDIAN, last_name="O'Brien", first_name="Sean")
        target.write(_op(obrien), None)
        dns = _people_dns(slapd, ldap_base)
        assert dns["O'Brien"] == f"ENTPersonJointure=O'Brien,{people}"
        assert len(dns) == 3
    finally:
        target.close()
    people_read = {r for r in _read_all(slapd, ldap_base) if isinstance(r, Person)}
    assert people_read == {first, hostile, obrien}


def test_a_dollar_in_a_field_is_refused_not_split(slapd: SlapdServer, ldap_base: str) -> None:
    pupil = Person(id="p", profile=Profile.STUDENT, last_name="A", first_name="B")
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as target:
        target.write(_op(pupil), None)
        with pytest.raises(TerminalError, match="field separator"):
            target.write(_op(Membership(person_id="p", uai=UAI, group_code="5$A")), None)


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="$"), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pid=_text.filter(lambda s: bool(s.strip())), last=_text.filter(lambda s: bool(s.strip())))
def test_any_id_and_name_round_trip(slapd: SlapdServer, pid: str, last: str) -> None:
    base = slapd.fresh_base()
    person = Person(id=pid, profile=Profile.TEACHER, last_name=last, first_name="", structures=())
    with LdapConnector(slapd.url(base), slapd.options()) as target:
        target.write(_op(person), None)
    assert _read_all(slapd, base) == {person}
