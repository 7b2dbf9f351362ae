"""The SCIM profile against a real SCIM server (scim2-server over verified TLS): auth kinds, TLS, faults,
idempotent creates whose answer was lost, /Bulk, paging, and the lossless User mapping."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import ssl
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.rest import RestConnector
from ent_migrate.connectors.rest.profiles.scim import person_from_user, user_body
from ent_migrate.contract import Action, Operation
from ent_migrate.errors import ConfigError, TransientError, UnreachableError
from ent_migrate.model import Group, GroupKind, Membership, Person, Profile, Record, Structure
from ent_migrate.registry import open_connector
from tests.connectors.rest.harness import scim_endpoint
from tests.servers.scim import ScimServer

UAI = "0801234G"


def tenant() -> str:
    return f"x{uuid.uuid4().hex[:16]}"


def open_scim(server: ScimServer, name: str, **options: object) -> RestConnector:
    spec, opts = scim_endpoint(server, name, **options)
    connector = open_connector(spec, opts)
    assert isinstance(connector, RestConnector)
    return connector


def op(record: Record) -> Operation:
    return Operation(f"op-{record.key}", Action.CREATE, record.kind, record.key, record)


def pupil(pid: str = "p1", **fields: object) -> Person:
    return Person(id=pid, profile=Profile.STUDENT, last_name="N'Diaye", first_name="Élève", structures=(UAI,), **fields)  # type: ignore[arg-type]  # test data, fields by name


def users_with(server: ScimServer, name: str, external_id: str) -> int:
    return int(server.get(name, "/Users", filter=f'externalId eq "{external_id}"')["totalResults"])


# -- auth and TLS ------------------------------------------------------------------------------
def test_bearer_and_basic_machine_clients_are_accepted_and_wrong_ones_refused(scim_server: ScimServer) -> None:
    name = tenant()
    with open_scim(scim_server, name) as bearer:
        assert bearer.check().authenticated is True
    user, secret = scim_server.basic
    with open_scim(scim_server, name, authentication="basic", client_id=user, client_secret=secret, token="") as basic:
        basic.write(op(pupil()))
    assert users_with(scim_server, name, "p1") == 1
    with open_scim(scim_server, name, token="wrong") as wrong:
        result = wrong.check()
        assert (result.reachable, result.authenticated) == (True, False)
        with pytest.raises(UnreachableError, match="refused the credentials"):
            list(wrong.read_accounts())


def test_tls_is_verified_and_the_certificate_fingerprint_recorded(scim_server: ScimServer) -> None:
    with open_scim(scim_server, tenant(), ca_file=None) as unverified:
        result = unverified.check()
        assert not result.reachable
        assert "does not verify" in result.detail
        with pytest.raises(UnreachableError, match="does not verify"):
            list(unverified.read_accounts())
    der = ssl.PEM_cert_to_DER_cert(Path(scim_server.cert_file).read_text())
    with open_scim(scim_server, tenant()) as verified:
        assert isinstance(verified, RestConnector)  # Connector.__enter__ returns Connector
        detail = verified.check().detail
        assert verified.tls_fingerprint == hashlib.sha256(der).hexdigest()
        assert f"sha256:{verified.tls_fingerprint}" in detail
    with pytest.raises(ConfigError, match="https://"):
        open_connector(f"rest:http://127.0.0.1:{scim_server.port}/x/v2", {"profile": "scim"})


# -- faults ------------------------------------------------------------------------------------
def test_429_retry_after_in_seconds_is_honoured_on_reads(scim_server: ScimServer) -> None:
    name = tenant()
    with open_scim(scim_server, name) as target:
        target.write(op(pupil()))
    scim_server.faults(
        [
            {
                "method": "GET",
                "path": "/Users",
                "mode": "status",
                "status": 429,
                "headers": {"Retry-After": "2"},
                "count": 2,
            }
        ]
    )
    try:
        with open_scim(scim_server, name) as source:
            assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
            waits: list[float] = []
            source.client.sleep = waits.append
            people = [r for r in source.read_accounts() if isinstance(r, Person)]
        assert [p.id for p in people] == ["p1"]
        assert scim_server.fault_hits() == [2]
        assert len(waits) == 2
        assert all(2.0 <= w <= 2.5 for w in waits), waits  # 2 s plus at most 25 % jitter
    finally:
        scim_server.clear_faults()


def test_503_retry_after_as_an_http_date_is_capped_and_given_to_the_engine(scim_server: ScimServer) -> None:
    name = tenant()
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600), usegmt=True)
    scim_server.faults(
        [{"method": "POST", "path": "/Users", "mode": "status", "status": 503, "headers": {"Retry-After": later}}]
    )
    try:
        with open_scim(scim_server, name, max_retry_after=20.0) as target:
            with pytest.raises(TransientError) as caught:
                target.write(op(pupil()))
            assert caught.value.retry_after == 20.0  # ten minutes asked, the cap given
            target.write(op(pupil()))  # the engine's retry
        assert users_with(scim_server, name, "p1") == 1
    finally:
        scim_server.clear_faults()


def test_a_truncated_answer_is_retried(scim_server: ScimServer) -> None:
    name = tenant()
    with open_scim(scim_server, name) as target:
        target.write(op(pupil()))
    scim_server.faults([{"method": "GET", "path": "/Users", "mode": "truncate"}])
    try:
        with open_scim(scim_server, name) as source:
            assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
            source.client.sleep = lambda _s: None
            assert [r.key for r in source.read_accounts()] == ["p1"]
            assert source.client.retried == 1
        assert scim_server.fault_hits() == [1]
    finally:
        scim_server.clear_faults()


@pytest.mark.parametrize("prefetch", [True, False], ids=["index", "search"])
@pytest.mark.parametrize("mode", ["hold", "truncate"])
def test_a_create_whose_answer_was_lost_ends_with_exactly_one_account(
    scim_server: ScimServer, prefetch: bool, mode: str
) -> None:
    """The server makes the account, the answer never arrives whole (held past the timeout, or cut):
    the engine retries the same operation, and the retry finds the account instead of making a second."""
    name = tenant()
    scim_server.faults([{"method": "POST", "path": "/Users", "mode": mode, "hold": 1.5}])
    try:
        with open_scim(scim_server, name, read_timeout=0.5, prefetch_index=prefetch) as target:
            record = pupil(login="e.ndiaye")
            with pytest.raises(TransientError):
                target.write(op(record))
            assert users_with(scim_server, name, "p1") == 1, "the create did land"
            target.write(op(record))  # what apply's tenacity retry does
        assert scim_server.fault_hits() == [1]
        assert users_with(scim_server, name, "p1") == 1
        with open_scim(scim_server, name) as back:
            assert [r for r in back.read_accounts() if isinstance(r, Person)] == [record]
    finally:
        scim_server.clear_faults()


def test_a_membership_goes_through_bulk_when_the_server_advertises_it(scim_server: ScimServer) -> None:
    name = tenant()
    records: list[Record] = [
        Structure(uai=UAI, name="COLLEGE"),
        pupil(),
        Group(uai=UAI, code="6A", group_kind=GroupKind.CLASS, name="6e A"),
        Membership(person_id="p1", uai=UAI, group_code="6A"),
    ]
    scim_server.faults([{"method": "POST", "path": "/Bulk", "mode": "status", "status": 503}])
    try:
        with open_scim(scim_server, name) as target:
            for record in records[:3]:
                target.write(op(record))
            with pytest.raises(TransientError):
                target.write(op(records[3]))
            target.write(op(records[3]))
        assert scim_server.fault_hits() == [1], "the membership did not use /Bulk"
    finally:
        scim_server.clear_faults()
    group = scim_server.get(name, "/Groups", filter='externalId eq "group:0801234G$6A"')["Resources"][0]
    user = scim_server.get(name, "/Users", filter='externalId eq "p1"')["Resources"][0]
    assert [m["value"] for m in group["members"]] == [user["id"]]
    with open_scim(scim_server, name, bulk=False) as plain:  # without Bulk: two requests, same result
        plain.write(op(records[3]))
        assert sorted(r.key for r in plain.read_relations()) == [records[3].key]


def test_lists_are_paged_with_start_index_and_count(scim_server: ScimServer) -> None:
    name = tenant()
    people = [pupil(f"p{i}") for i in range(7)]
    with open_scim(scim_server, name) as target:
        for person in people:
            target.write(op(person))
    with open_scim(scim_server, name, page_size=3) as source:
        assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
        before = source.client.requests
        assert sorted(r.key for r in source.read_accounts()) == sorted(p.id for p in people)
        assert source.client.requests - before == 1 + 3  # groups (one page), users (3 + 3 + 1)


# -- mapping -----------------------------------------------------------------------------------
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
people = st.builds(
    Person,
    id=text.filter(bool),
    profile=st.sampled_from(Profile),
    last_name=text,
    first_name=text,
    birth_name=st.none() | text,
    birth_date=st.none() | st.dates(),
    ine=st.none() | text,
    emails=st.lists(text.filter(bool), max_size=3, unique=True).map(tuple),
    structures=st.lists(text.filter(bool), max_size=3).map(tuple),
    login=st.none() | text.filter(bool),
    other_first_names=st.lists(text, max_size=2).map(tuple),
    civility=st.none() | text.filter(bool),
    source_ids=st.lists(text, max_size=2).map(tuple),
    active=st.booleans(),
)


@settings(max_examples=200)
@given(people)
def test_a_person_survives_the_user_mapping(person: Person) -> None:
    assert person_from_user(user_body(person)) == person


def test_the_request_budget_paces_requests(scim_server: ScimServer) -> None:
    with open_scim(scim_server, tenant(), requests_per_second=10.0) as source:
        assert isinstance(source, RestConnector)  # Connector.__enter__ returns Connector
        waits: list[float] = []
        source.client.sleep = waits.append  # the pacing sleeps, seen instead of slept
        now = [50.0]
        source.client.clock = lambda: now[0]  # a frozen clock: every request finds the previous slot taken
        for _ in range(5):
            source.client.request("GET", "/Users", params={"count": 0})
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4])
