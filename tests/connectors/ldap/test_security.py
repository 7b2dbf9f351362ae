"""Security by default: verified TLS (LDAPS or StartTLS before the bind), plain LDAP only when asked,
with a warning on every run; the password only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from ent_migrate.config import load_config
from ent_migrate.connectors.ldap import LdapConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.errors import ConfigError, UnreachableError
from ent_migrate.model import Person, Profile, RecordKind, Structure
from tests.servers.slapd import SlapdServer

STRUCTURE = Structure(uai="0350012Y", name="Collège", type="COLLEGE")


def _round_trip(connector: LdapConnector) -> list[Structure]:
    connector.write(Operation("op", Action.CREATE, RecordKind.STRUCTURE, STRUCTURE.key, STRUCTURE), None)
    return [r for r in connector.read_accounts() if isinstance(r, Structure)]


def test_ldaps_with_the_ca_file_works_and_warns_nothing(slapd: SlapdServer, ldap_base: str) -> None:
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as connector:
        assert isinstance(connector, LdapConnector)  # __enter__ is typed as the base Connector
        assert connector.notices() == []
        assert _round_trip(connector) == [STRUCTURE]
        result = connector.check()
    assert result.reachable
    assert result.authenticated
    assert "TLS" in result.detail


def test_start_tls_before_the_bind_works(slapd: SlapdServer, ldap_base: str) -> None:
    with LdapConnector(slapd.url(ldap_base, scheme="ldap"), slapd.options(start_tls=True)) as connector:
        assert isinstance(connector, LdapConnector)  # __enter__ is typed as the base Connector
        assert connector.notices() == []
        assert _round_trip(connector) == [STRUCTURE]


def test_plain_ldap_is_refused_unless_insecure(slapd: SlapdServer, ldap_base: str) -> None:
    with pytest.raises(ConfigError, match=r"in clear.*ldaps://.*start_tls.*insecure"):
        LdapConnector(slapd.url(ldap_base, scheme="ldap"), slapd.options(), where="[target.b] (ldap)")


def test_insecure_plain_ldap_works_and_warns_on_every_run(slapd: SlapdServer, ldap_base: str) -> None:
    with LdapConnector(slapd.url(ldap_base, scheme="ldap"), slapd.options(insecure=True)) as connector:
        assert isinstance(connector, LdapConnector)  # __enter__ is typed as the base Connector
        notices = connector.notices()
        assert len(notices) == 1
        assert "without TLS" in notices[0]
        assert "in clear" in notices[0]
        assert _round_trip(connector) == [STRUCTURE]
    assert slapd.password not in notices[0]


def test_ldaps_and_start_tls_together_is_a_config_error(slapd: SlapdServer, ldap_base: str) -> None:
    with pytest.raises(ConfigError, match="start_tls is for ldap://"):
        LdapConnector(slapd.url(ldap_base), slapd.options(start_tls=True))


@pytest.mark.parametrize("scheme", ["ldaps", "ldap"])
def test_a_certificate_from_an_unknown_ca_is_refused(
    slapd: SlapdServer, ldap_base: str, tmp_path: Path, scheme: str
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    extra = {"start_tls": True} if scheme == "ldap" else {}
    connector = LdapConnector(slapd.url(ldap_base, scheme=scheme), slapd.options(ca_file=str(other), **extra))
    try:
        with pytest.raises(UnreachableError, match=r"TLS with 127\.0\.0\.1 failed"):
            list(connector.read_accounts())
        assert connector.check().reachable is False
    finally:
        connector.close()


def test_a_certificate_for_another_host_name_is_refused(slapd: SlapdServer, ldap_base: str) -> None:
    # The server's certificate names 127.0.0.1 only; "localhost" is the same address under another name.
    connector = LdapConnector(slapd.url(ldap_base, host="localhost"), slapd.options())
    try:
        with pytest.raises(UnreachableError, match="does not name that host"):
            list(connector.read_accounts())
    finally:
        connector.close()


def test_a_wrong_password_is_unreachable_not_retried(slapd: SlapdServer, ldap_base: str) -> None:
    connector = LdapConnector(slapd.url(ldap_base), slapd.options(bind_password="not-the-password"))
    try:
        result = connector.check()
        assert result.reachable
        assert result.authenticated is False
        person = Person(id="x", profile=Profile.STAFF, last_name="Martin", first_name="Lou")
        with pytest.raises(UnreachableError, match="refused the bind"):
            connector.write(Operation("op", Action.CREATE, RecordKind.PERSON, "x", person), None)
    finally:
        connector.close()
    assert "not-the-password" not in result.detail


def test_the_bind_password_is_never_a_literal_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[target.b]\nspec = "ldap:ldaps://127.0.0.1/dc=ent"\nbind_password = "hunter2"\n')
    with pytest.raises(ConfigError, match=r"target\.b\.bind_password holds a literal secret"):
        load_config(path)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("https://127.0.0.1/dc=ent", "ldaps://HOST"),
        ("ldaps://127.0.0.1:6360", "no base DN"),
        ("ldaps://admin:pw@127.0.0.1/dc=ent", "must not hold credentials"),
        ("ldaps://127.0.0.1/not a dn", "not a valid DN"),
    ],
)
def test_bad_locations_are_config_errors(location: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LdapConnector(location, {})
