"""A target that already holds the source's people under their own ids (an ENT pre-fed from the same
AAF, or a state store rebuilt after a migration): each person lands on their account and keeps its
login. Found trying the demo with a new state store: every login would have been renamed
(``marie.dupont`` → ``marie.dupont2``), the target's login being held as taken by the target itself."""

from __future__ import annotations

import csv
from pathlib import Path

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Person, RecordKind
from ent_migrate.pipeline import do_run
from tests.pipeline._helpers import context, district, engine, fill


def _logins() -> dict[str, str | None]:
    people = MemoryConnector.named_store("dst").records[RecordKind.PERSON]
    return {key: r.login for key, r in people.items() if isinstance(r, Person)}


def test_a_new_state_store_keeps_the_logins_the_target_holds(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district(pupils=12))
    first = do_run(context(tmp_path / "first"))
    assert first["verify"]["verdict"] == "complete", first["verify"]
    before = _logins()
    assert before
    assert all(before.values())
    # The same migration planned again from an empty state store, against the target it filled.
    second = context(tmp_path / "second", db=engine(tmp_path / "second"))
    out = do_run(second)
    assert out["verify"]["verdict"] == "complete", out["verify"]
    assert _logins() == before
    assert out["plan"]["actions"].get("update", 0) == 0, out["plan"]["actions"]
    # The plan report says so: each person's login kept (the first run built them).
    (report,) = (tmp_path / "second" / "reports").glob("*/plan-*/plan-report.csv")
    with report.open(encoding="utf-8-sig", newline="") as f:
        origins = {r["id"]: r["login"] for r in csv.DictReader(f) if r["kind"] == "person"}
    assert len(origins) == len(before)
    assert set(origins.values()) == {"kept"}
