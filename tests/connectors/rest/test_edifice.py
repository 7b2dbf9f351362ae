"""The Edifice profile against the entcore test server: OAuth2 (cached, renewed), session login + XSRF,
302 to /auth/login, 509 quota back-off, errors in a 200 body, truncated answers, updates and links."""

from __future__ import annotations

import ssl
import uuid

import httpx
import pytest

from ent_migrate.connectors.rest import RestConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.errors import ConfigError, TerminalError, TransientError, UnreachableError
from ent_migrate.model import Group, Guardianship, Membership, Person, Profile, Record, Structure
from ent_migrate.registry import open_connector
from tests.connectors.rest.harness import edifice_endpoint
from tests.servers.entcore import EntcoreServer, Tenant

UAI = "0801234G"


def op(record: Record) -> Operation:
    return Operation(f"op-{record.key}", Action.UPDATE, record.kind, record.key, record)


def seeded(server: EntcoreServer) -> tuple[str, Tenant]:
    """A tenant holding what entcore's feeder would have made: a school, a class, a group, two accounts."""
    name = f"e{uuid.uuid4().hex[:16]}"
    t = server.tenant(name)
    t.add_structure(UAI, "COLLEGE JULES FERRY")
    t.add_class(UAI, "6A")
    t.add_group(UAI, "LATIN")
    t.add_user("p1", "Student", "Élève", "N'Diaye", (UAI,), login="eleve.ndiaye")
    t.add_user("g1", "Relative", "Parent", "N'Diaye", (UAI,), login="parent.ndiaye", email="p@example.org")
    return name, t


def open_edifice(server: EntcoreServer, name: str, **options: object) -> RestConnector:
    spec, opts = edifice_endpoint(server, name, **options)
    connector = open_connector(spec, opts)
    assert isinstance(connector, RestConnector)
    return connector


def session(server: EntcoreServer, name: str, password: str | None = None) -> RestConnector:
    user, secret = server.account
    return open_edifice(
        server,
        name,
        authentication="session",
        username=user,
        password=password or secret,
        client_id="",
        client_secret="",
    )


# -- auth --------------------------------------------------------------------------------------
def test_client_credentials_token_is_cached_and_renewed_before_it_expires(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    t.token_ttl = 40
    with open_edifice(entcore_server, name, renew_margin=30.0) as source:
        assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
        now = [1000.0]
        source.client.auth.clock = lambda: now[0]  # type: ignore[attr-defined]  # OAuth2Auth's clock
        for _ in range(3):
            source.client.request("GET", "/directory/structure/admin/list")
        assert t.token_requests == 1
        now[0] += 5  # 35 s left: more than the margin
        source.client.request("GET", "/directory/structure/admin/list")
        assert t.token_requests == 1
        now[0] += 10  # 25 s left: renewed before it expires
        source.client.request("GET", "/directory/structure/admin/list")
        assert t.token_requests == 2


def test_password_grant_and_refused_credentials(entcore_server: EntcoreServer) -> None:
    name, _ = seeded(entcore_server)
    user, secret = entcore_server.account
    with open_edifice(entcore_server, name, authentication="oauth2-password", username=user, password=secret) as ok:
        assert "1 structures" in ok.check().detail
    with (
        open_edifice(entcore_server, name, authentication="oauth2-password", username=user, password="wrong") as bad,
        pytest.raises(UnreachableError, match="token endpoint refused"),
    ):
        list(bad.read_accounts())
    with open_edifice(entcore_server, name, client_secret="wrong") as bad_client:
        assert bad_client.check().authenticated is False


def test_session_login_echoes_the_xsrf_token_on_writes(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    with session(entcore_server, name) as target:
        assert isinstance(target, RestConnector)  # Connector.__enter__ returns Connector
        target.write(op(Membership(person_id="p1", uai=UAI, group_code="6A")))
        http = target.client.http
        cookies = {"oneSessionId": http.cookies["oneSessionId"], "XSRF-TOKEN": http.cookies["XSRF-TOKEN"]}
    assert t.logins == 1
    cid = next(iter(t.classes))
    assert t.classes[cid]["users"] == {t.by_external_id("p1")[0]["id"]}
    # the server does check: the same session without the header is refused
    with httpx.Client(verify=_ctx(entcore_server), cookies=cookies) as raw:
        refused = raw.put(f"{entcore_server.url(name)}/directory/class/{cid}/link", json={"ids": []})
    assert refused.status_code == 403
    assert refused.json() == {"error": "xsrf.token.invalid"}


def test_a_redirect_to_the_login_page_is_an_authentication_failure(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    with (
        open_edifice(entcore_server, name, authentication="none", client_id="", client_secret="") as anonymous,
        pytest.raises(UnreachableError, match="refused the credentials"),
    ):
        list(anonymous.read_accounts())
    with session(entcore_server, name, password="wrong") as wrong:
        assert wrong.check().authenticated is False
    with session(entcore_server, name) as expiring:
        assert expiring.check().authenticated is True
        t.sessions.clear()  # the session expired on the server: one login again, then on
        assert any(isinstance(r, Person) for r in expiring.read_accounts())
    assert t.logins == 2


def _ctx(server: EntcoreServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_file)


# -- faults ------------------------------------------------------------------------------------
def test_509_quota_overflow_backs_off(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    t.quota_overflow = 1  # the token endpoint's sessions limit, once
    t.faults = [
        {
            "method": "GET",
            "path": "/directory/structure/admin/list",
            "mode": "status",
            "status": 509,
            "body": {"error": "quota_overflow"},
        }
    ]
    with open_edifice(entcore_server, name, quota_backoff=7.0) as source:
        assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
        waits: list[float] = []
        source.client.sleep = waits.append
        assert [r.key for r in source.read_accounts() if isinstance(r, Structure)] == [UAI]
    assert len(waits) == 2
    assert all(7.0 <= w <= 7.0 * 1.25 for w in waits), waits
    assert t.token_requests == 2
    no_statuses: tuple[int, ...] = ()  # typed, so mypy can type `status`
    assert not any(status == 429 for status in no_statuses)  # entcore never answers 429: nothing to wait for here


def test_an_error_in_a_200_body_is_an_error(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    t.faults = [{"method": "PUT", "path": "/link", "mode": "body-error", "key": "class.link.error"}]
    with (
        open_edifice(entcore_server, name) as target,
        pytest.raises(TerminalError, match=r"error in a 200 answer: class\.link\.error"),
    ):
        target.write(op(Membership(person_id="p1", uai=UAI, group_code="6A")))


def test_a_truncated_answer_is_retried(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    t.faults = [{"method": "GET", "path": "/directory/user/list/by/structure", "mode": "truncate"}]
    with open_edifice(entcore_server, name) as source:
        assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
        source.client.sleep = lambda _s: None
        people = sorted(r.key for r in source.read_accounts() if isinstance(r, Person))
    assert people == ["g1", "p1"]
    assert t.faults[0]["hits"] == 1


# -- the directory -----------------------------------------------------------------------------
def test_links_and_updates_are_written_and_read_back(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    records: list[Record] = [
        Person(
            id="p1",
            profile=Profile.STUDENT,
            last_name="N'Diaye-Diallo",
            first_name="Élève",
            login="eleve.ndiaye",
            structures=(UAI,),
        ),
        Membership(person_id="p1", uai=UAI, group_code="6A"),
        Membership(person_id="g1", uai=UAI, group_code="LATIN"),
        Guardianship(guardian_id="g1", student_id="p1"),
    ]
    with open_edifice(entcore_server, name) as target:
        for record in records:
            target.write(op(record))
        for record in records:  # idempotent: the same writes again change nothing
            target.write(op(record))
    with open_edifice(entcore_server, name) as source:
        accounts = {r.key: r for r in source.read_accounts()}
        relations = sorted(r.key for r in source.read_relations())
    assert accounts["p1"] == records[0]
    assert relations == sorted(r.key for r in records[1:])
    assert ("GET", f"/{name}/directory/user/list/by/structure") in t.requests
    assert sum(1 for m, p in t.requests if p.endswith("/list/by/structure")) == 2  # one whole array per read


def test_accounts_are_never_created_and_unknown_fields_are_refused(entcore_server: EntcoreServer) -> None:
    name, t = seeded(entcore_server)
    with open_edifice(entcore_server, name) as target:
        assert isinstance(target, RestConnector)  # Connector.__enter__ returns Connector
        with pytest.raises(TerminalError, match="feeder"):
            target.write(op(Person(id="new", profile=Profile.TEACHER, last_name="X", first_name="Y")))
        with pytest.raises(TerminalError, match="no structure with this UAI"):
            target.write(op(Structure(uai="0999999Z")))
        with pytest.raises(TerminalError, match="does not support groups"):
            target.write(op(Group(uai=UAI, code="6B")))
        uid = t.by_external_id("p1")[0]["id"]
        with pytest.raises(TerminalError, match=r"400 invalid\.field\.ine"):
            target.client.request("PUT", f"/directory/user/{uid}", json_body={"ine": "0000000001A"})
        # why: entcore's manual creation gives the account a generated externalId, not the source's key
        created = target.client.request(
            "POST",
            "/directory/api/user",
            form={"firstname": "Y", "lastname": "X", "type": "Teacher", "structureId": t.structure_id(UAI)},
        ).payload
        assert t.users[created["id"]]["externalId"] != "new"
    with pytest.raises(ConfigError, match="profile must be one of edifice, scim"):
        open_connector(f"rest:{entcore_server.url(name)}", {"profile": "entcore"})


def test_a_missing_uai_is_entcore_s_400(entcore_server: EntcoreServer) -> None:
    name, _ = seeded(entcore_server)
    with open_edifice(entcore_server, name) as source:
        assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
        with pytest.raises(TerminalError, match=r"400 missing\.uai"):
            source.client.request("GET", "/directory/user/list/by/structure")
        source.client.sleep = lambda _s: None
        entcore_server.tenant(name).faults = [
            {"method": "GET", "path": "/admin/list", "mode": "status", "status": 502, "count": 99}
        ]
        with pytest.raises(TransientError):  # 5xx from a fault rule: retried, then given up
            source.client.request("GET", "/directory/structure/admin/list")
        assert source.client.retried == 5  # read_attempts (6) - 1
