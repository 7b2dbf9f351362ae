"""The reports' people per school and profile, counted on the report's own pass over the items (a
second pass decoded every person's payload again: issue 15). Each report must still count every person
the run expects, once, under the school and profile of their expected record."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Person, Profile
from ent_migrate.pipeline import do_run
from tests.pipeline._helpers import context, district, fill


def test_each_report_counts_every_expected_person_under_their_school(tmp_path: Path) -> None:
    elsewhere = Person(id="x1", profile=Profile.TEACHER, last_name="Autre", first_name="E", structures=("0999999Z",))
    nowhere = Person(id="x2", profile=Profile.STAFF, last_name="Sans", first_name="Ecole", structures=())
    records = [*district(pupils=9), (elsewhere, None), (nowhere, None)]
    want: Counter[tuple[str, str]] = Counter(
        ((r.structures[0] if r.structures else "?"), str(r.profile)) for r, _ in records if isinstance(r, Person)
    )
    fill(MemoryConnector.named_store("src"), iter(records))
    out = do_run(context(tmp_path))
    assert out["verify"]["verdict"] == "complete", out["verify"]
    for kind in ("plan", "verify"):
        (path,) = (tmp_path / "reports").glob(f"*/{kind}-*/{kind}-report.json")
        by_school = json.loads(path.read_text(encoding="utf-8"))["counts_by_school"]
        got = Counter({(uai, profile): n for uai, counts in by_school.items() for profile, n in counts.items()})
        assert got == want, kind
        assert list(by_school) == sorted(by_school), kind
