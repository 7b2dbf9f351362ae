"""What moves besides documents (issue 14, item 4): parents linked and never duplicated, mail under
École/ (on the ENT, or in the zip when the ENT takes none), collaborative works with co-authors minimised."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.config import load_config
from ent_migrate.connectors.memory.connector import MemoryConnector
from ent_migrate.fixtures.promotion import COLLAB_HTML, PromotionFixture, write_promotion_fixture
from ent_migrate.model import Guardianship, Person, Profile
from ent_migrate.pipeline.context import pseudonymizer_from_config
from ent_migrate.promotion import Promoter, PromotionStore, RunSummary, load_promotion_config
from ent_migrate.promotion.moves import COLLAB_DIR, link_guardians, minimise_names, short_name
from ent_migrate.promotion.report import build_report
from ent_migrate.registry import load_registry
from ent_migrate.state import make_engine, upgrade
from tests.promotion.conftest import Runner, states

_PAD = f"Mon école primaire/{COLLAB_DIR}/pad/Exposé les volcans.html"


def _target(promo: PromotionFixture) -> list[dict[str, Any]]:
    """The target's log of writes (the memory connector's persisted JSON lines)."""
    return [json.loads(line) for line in promo.target.read_text(encoding="utf-8").splitlines()]


def _records(promo: PromotionFixture, kind: str) -> list[dict[str, Any]]:
    return [e["record"] for e in _target(promo) if (e.get("record") or {}).get("kind") == kind]


def _blob_of(promo: PromotionFixture, owner: str, path: str) -> bytes:
    for e in _target(promo):
        rec = e.get("record")
        if isinstance(rec, dict) and rec.get("owner_id") == owner and rec.get("path") == path:
            return bytes.fromhex(str(e["blob"]))
    raise AssertionError(f"{owner}|{path} not on the target")


def _summer(run: Runner) -> RunSummary:
    run("2027-06-01")
    return run("2027-07-05")


# ------------------------------------------------------------------------------------------ parents


def test_guardians_are_linked_to_the_new_account_and_never_created(
    run: Runner, store: PromotionStore, promo: PromotionFixture
) -> None:
    summary = _summer(run)
    links = {(str(r["guardian_id"]), str(r["student_id"])) for r in _records(promo, "guardianship")}
    # the collège side's guardian ids, on the 6e pupils' ids; e03's second guardian found by its jointure
    assert ("g01", "c01") in links
    assert ("g03", "c03") in links
    assert ("ac-paris:R0303", "c03") in links
    assert not any(g.startswith("r") for g, _s in links)  # never the primary side's guardian id
    assert not any(s == "c02" for _g, s in links)  # e02's guardian is not in SIECLE
    assert _records(promo, "person") == []  # no guardian account created, nor any account
    lost = [o for o in summary.problems.occurrences() if o.code == "promotion.guardian-not-found"]
    assert len(lost) == 1
    assert "not on the collège side" in str(lost[0].detail)
    assert "Bernard" not in str(lost[0].where)
    assert "re02" not in str(lost[0].where)
    assert store.pupils(2026)["2026|e02"].detail["guardians"] == {"linked": 0, "unlinked": 1}
    # a re-run writes no second link
    before = len(_records(promo, "guardianship"))
    run("2027-07-05")
    assert len(_records(promo, "guardianship")) == before


def _guardian(gid: str, last: str, first: str, *, source_ids: tuple[str, ...] = ()) -> Person:
    return Person(id=gid, profile=Profile.GUARDIAN, last_name=last, first_name=first, source_ids=source_ids)


def test_guardian_matching_by_id_then_by_names_of_the_shared_child() -> None:
    prim = {
        "r1": _guardian("r1", "Martin", "Sophie"),
        "r2": _guardian("r2", "Martin", "Paul", source_ids=("ac-paris:9",)),
        "r3": _guardian("r3", "Durand", "Anne"),
        "r4": _guardian("r4", "Petit", "Jean"),
    }
    coll = {
        "g1": _guardian("g1", "MARTIN", "Sophie"),  # folded names, the shared child
        "ac-paris:9": _guardian("ac-paris:9", "Lefebvre", "Paul"),  # another name, the same jointure
        "g3": _guardian("g3", "DURAND", "Anne"),
        "g3b": _guardian("g3b", "Durand", "ANNE"),  # a homonym on the same child: review, not linked
        "g9": _guardian("g9", "PETIT", "Jean"),  # the right names, but another child's guardian
    }
    links = [Guardianship(guardian_id=g, student_id="e1") for g in prim]
    got = link_guardians(links, prim, ["g1", "g3", "g3b"], coll)
    assert {(lk.guardian_id, gid) for lk, gid in got.linked} == {("r1", "g1"), ("r2", "ac-paris:9")}
    assert dict(got.unlinked) == {"r3": "2 uncertain candidate(s): review", "r4": "not on the collège side"}


# --------------------------------------------------------------------------------------------- mail


def test_mail_goes_under_ecole_on_a_target_that_takes_mail(
    run: Runner, store: PromotionStore, promo: PromotionFixture
) -> None:
    _summer(run)
    boxes = {(str(r["owner_id"]), str(r["name"])) for r in _records(promo, "mailbox")}
    assert boxes == {(o, f"École/{f}") for o in ("c01", "c03") for f in ("INBOX", "Sent")}
    sent = {str(r["mailbox"]): str(r["sha256"]) for r in _records(promo, "message") if r["owner_id"] == "c01"}
    moved = {m["folder"]: m["sha256"] for m in store.pupils(2026)["2026|e01"].detail["mail"]}
    assert sent == moved
    assert set(sent) == {"École/INBOX", "École/Sent"}
    for e in _target(promo):  # the bytes sent are the primary side's, checked by SHA-256
        if e["record"]["kind"] == "message":
            assert hashlib.sha256(bytes.fromhex(str(e["blob"]))).hexdigest() == e["record"]["sha256"]
    assert states(store)["e01"][0] == "verified"
    config = load_config(promo.config)
    report = build_report(store, load_promotion_config(config), pseudonymizer_from_config(config))
    assert report["colleges"]["0750100X"]["courriels"] == 2
    assert report["colleges"]["0750101Y"]["courriels"] == 2
    assert report["colleges"]["0750100X"]["responsables_lies"] >= 1


_NOMAIL = """\
    from ent_migrate.connectors.memory.connector import MemoryConnector
    from ent_migrate.contract import Capability, Connector

    class NoMailConnector(MemoryConnector):
        # a collège ENT that takes documents and relations but no mail (as the rest connector)
        name = "nomail"
        capabilities = frozenset(Capability) - {Capability.MAIL}
        read_mail = Connector.read_mail
        write_mail = Connector.write_mail

    class NoRelationsConnector(MemoryConnector):
        # a collège ENT that cannot take guardian links
        name = "norel"
        capabilities = frozenset(Capability) - {Capability.RELATIONS}
        read_relations = Connector.read_relations
        write_relation = Connector.write_relation
"""


@pytest.fixture
def nomail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real installed distribution registering a target without mail (ent_migrate.connectors)."""
    info = tmp_path / "site" / "nomail_dist-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nomail-dist\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[ent_migrate.connectors]\nnomail = nomail_mod:NoMailConnector\nnorel = nomail_mod:NoRelationsConnector\n",
        encoding="utf-8",
    )
    (tmp_path / "site" / "nomail_mod.py").write_text(textwrap.dedent(_NOMAIL), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    load_registry.cache_clear()
    yield
    load_registry.cache_clear()


@contextlib.contextmanager
def _on(tmp_path: Path, spec: str) -> Iterator[tuple[PromotionFixture, PromotionStore]]:
    """The generated years with the collège ENT behind *spec* (a connector of the nomail fixture)."""
    promo = write_promotion_fixture(tmp_path / spec, store_prefix=spec, target_spec=f"{spec}:{spec}-target")
    engine = make_engine(f"sqlite:///{promo.root / 'state.db'}")
    upgrade(engine)
    try:
        yield promo, PromotionStore(engine)
    finally:
        engine.dispose()


def _summer_on(promo: PromotionFixture, store: PromotionStore) -> RunSummary:
    for day in ("2027-06-01", "2027-07-05"):
        MemoryConnector.reset()
        config = load_config(promo.config)
        pc = load_promotion_config(config)
        summary = Promoter(config, pc, store, pseudonymizer_from_config(config), dt.date.fromisoformat(day)).run(
            dry_run=False
        )
    return summary


@pytest.mark.usefixtures("nomail")
def test_mail_goes_into_the_zip_as_eml_when_the_target_takes_none(tmp_path: Path) -> None:
    with _on(tmp_path, "nomail") as (promo, store):
        _summer_on(promo, store)
        config = load_config(promo.config)
        pc, pseudo = load_promotion_config(config), pseudonymizer_from_config(config)
        p = store.pupils(2026)["2026|e01"]
        assert p.state.value == "verified"
        assert p.detail["mail_to"] == "archive"
        assert not _records(promo, "message")
        assert not _records(promo, "mailbox")
        (zpath,) = (pc.output / "exports").glob(f"*/{pseudo('e01')[2:]}.zip")
        with zipfile.ZipFile(zpath) as zf:
            emls = sorted(n for n in zf.namelist() if n.endswith(".eml"))
            sums = {
                path: sha for sha, path in (line.split("  ", 1) for line in zf.read("SHA256SUMS").decode().splitlines())
            }
            assert [n.rsplit("/", 1)[0] for n in emls] == ["École/INBOX", "École/Sent"]
            for name in emls:
                assert hashlib.sha256(zf.read(name)).hexdigest() == sums[name]
                assert zf.read(name).startswith(b"Message-ID: <e01-")
        assert {m["sha256"] for m in p.detail["mail"]} == {sums[n] for n in emls}
        report = build_report(store, pc, pseudo)
        mine = next(e for e in report["colleges"]["0750100X"]["eleves"] if e["eleve"] == pseudo("e01"))
        assert mine["courriels"] == []
        assert mine["courriels_dans_l_archive"] == 2


# ------------------------------------------------------------------------------- collaborative works


def test_collaborative_work_moves_read_only_with_co_authors_minimised(
    run: Runner, store: PromotionStore, promo: PromotionFixture
) -> None:
    _summer(run)
    lea = _blob_of(promo, "c01", _PAD).decode()
    hugo = _blob_of(promo, "c02", _PAD).decode()
    assert "Léa Martin" in lea
    assert "Hugo B." in lea
    assert "BERNARD" not in lea
    assert "Léa M." in hugo
    assert "Martin" not in hugo
    assert "Hugo BERNARD" in hugo
    assert "Bernard" not in COLLAB_HTML
    assert "BERNARD" in COLLAB_HTML
    # the pupil's own production is unchanged, under Productions/
    blog = _blob_of(promo, "c01", "Mon école primaire/Productions/blog/Mon blog de CM2.html")
    assert blog == b"<h1>Mon blog de CM2</h1><p>e01</p>"
    files = {f["path"]: f for f in store.pupils(2026)["2026|e01"].detail["files"]}
    pad = files[_PAD.split("/", 1)[1]]
    assert pad["read_only"]
    assert pad["sha256"] == hashlib.sha256(lea.encode()).hexdigest()
    assert states(store)["e01"][0] == "verified"  # the minimised copy's SHA-256 is what verify checks
    config = load_config(promo.config)
    pc = load_promotion_config(config)
    pseudo = pseudonymizer_from_config(config)
    (zpath,) = (pc.output / "exports").glob(f"*/{pseudo('e02')[2:]}.zip")
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo(_PAD)
        assert (info.external_attr >> 16) & 0o777 == 0o444
        assert zf.read(_PAD).decode() == hugo


_A = st.text("abcdeéfghï", min_size=2, max_size=8)
_B = st.text("mnopqrstuv", min_size=2, max_size=8)
_FILL = st.text("xyz .,<>", max_size=20)


@given(first=_A, last=_B, before=_FILL, after=_FILL, order=st.sampled_from(["fl", "lf", "LF", "l,f"]))
def test_minimise_names_leaves_first_name_and_initial(
    first: str, last: str, before: str, after: str, order: str
) -> None:
    shown = {
        "fl": f"{first} {last}",
        "lf": f"{last} {first}",
        "LF": f"{last.upper()} {first}",
        "l,f": f"{last}, {first}",
    }
    text = f"{before} {shown[order]} {after}"
    out = minimise_names(text.encode(), "text/html", [(first, last)]).decode()
    assert last.lower() not in out.lower()
    assert short_name(first, last) in out
    data = json.dumps({"auteurs": [shown[order]], "n": 1}).encode()  # ensure_ascii: \u00e9 escapes
    assert json.loads(minimise_names(data, "application/json", [(first, last)])) == {
        "auteurs": [short_name(first, last)],
        "n": 1,
    }


@pytest.mark.usefixtures("nomail")
def test_guardians_found_but_a_target_without_relations_is_reported(tmp_path: Path) -> None:
    with _on(tmp_path, "norel") as (promo, store):
        summary = _summer_on(promo, store)
        assert not _records(promo, "guardianship")
        by_hand = [o for o in summary.problems.occurrences() if o.code == "promotion.guardian-by-hand"]
        assert len(by_hand) == 6  # e01, e03, e07, e10, e11, e12: found on the collège side, not linkable
        assert states(store)["e01"][0] == "verified"  # the rest of the pupil's work moved
