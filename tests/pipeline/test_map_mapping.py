"""The map stage applies the mapping file: class renames and splits (memberships follow), transforms,
and the login policy — end to end, through apply and verify on a memory target."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.errors import ConfigError
from ent_migrate.model import Group, Membership, Person, RecordKind
from ent_migrate.pipeline import do_plan, do_run
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import UAI, context, district, fill
from tests.pipeline.test_reconcile import _pupil

MAPPING = """\
[login]
keep_existing = false

[classes.rename]
CM1 = "CM1-A"

[classes.split.CM2]
into = ["CM2 A", "CM2 B"]
rule = "alphabetical"

[transforms.person]
last_name = ["upper", { replace = ["'", " "] }]

[transforms.group]
name = ["lower"]
"""


def _context(tmp_path: Path, text: str = MAPPING) -> Any:
    (tmp_path / "mapping.toml").write_text(text, encoding="utf-8")
    source = MemoryConnector.named_store("src")
    fill(source, district(pupils=6))  # p1, p3, p5 in CM1; p0, p2, p4 in CM2
    source.put(Membership(person_id="t1", uai=UAI, group_code="CM2", subject="MATHS"))
    source.put(dataclasses.replace(_pupil("p9", "Abel", "Zoé", dt.date(2014, 9, 9), None), login="zoe.abel.old"))
    source.put(Membership(person_id="p9", uai=UAI, group_code="CM2"))
    return context(tmp_path, mapping={"file": str(tmp_path / "mapping.toml")})


def test_classes_are_renamed_and_split_and_everyone_follows(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    out = do_run(ctx)
    assert out["verify"]["verdict"] == "complete", out["verify"]  # green: every expected record is there
    target = MemoryConnector.named_store("dst").records
    groups: dict[str, Group] = target[RecordKind.GROUP]  # type: ignore[assignment]  # the group bucket
    assert sorted(groups) == [f"{UAI}$CM1-A", f"{UAI}$CM2 A", f"{UAI}$CM2 B"]
    assert groups[f"{UAI}$CM1-A"].name == "cm1-a"  # a name that repeated the code follows it, then lower
    members: dict[str, set[str]] = {}
    for m in target[RecordKind.MEMBERSHIP].values():
        assert isinstance(m, Membership)
        members.setdefault(m.group_code, set()).add(m.person_id)
    assert members["CM1-A"] == {"p1", "p3", "p5"}
    # Alphabetical halves by folded last then first name: Abel first, then the N'Diaye pupils by first
    # name (Élève0 < Élève2 < Élève4); the teacher teaches both parts.
    assert members["CM2 A"] == {"p9", "p0", "t1"}
    assert members["CM2 B"] == {"p2", "p4", "t1"}
    pupil = target[RecordKind.PERSON]["p0"]
    assert isinstance(pupil, Person)
    assert pupil.last_name == "N DIAYE"  # the transforms, in order
    assert pupil.first_name == "Élève0"
    # keep_existing = false: the old login is not kept, it is the alias in the old → new map.
    p9 = target[RecordKind.PERSON]["p9"]
    assert isinstance(p9, Person)
    assert p9.login == "zoe.abel"
    rows = {old_id: (old, new) for _, old_id, old, new in ctx.state.identities.id_map_rows()}
    assert rows["p9"] == ("zoe.abel.old", "zoe.abel")
    # A re-run finds everything in place: nothing to create, nothing only on the target.
    again = do_run(ctx)
    actions = again["plan"]["actions"]
    assert (actions["create"], actions["update"], actions["delete"], actions["disable"]) == (0, 0, 0, 0)
    assert again["verify"]["verdict"] == "complete"


def test_matching_still_sees_the_source_names(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    do_plan(ctx, open_run(ctx))
    canon = ctx.state.identities.canonical_of(ctx.source_name, ["p0"])["p0"]
    assert ctx.state.identities.facts_of([canon])[canon]["last_name"] == "N'Diaye"


def test_a_pupil_listed_nowhere_stops_map_with_the_file_and_line(tmp_path: Path) -> None:
    listed = MAPPING.replace(
        'rule = "alphabetical"', 'rule = "listed"\npupils = { "CM2 A" = ["p0", "p2"], "CM2 B" = ["p4"] }'
    )
    ctx = _context(tmp_path, listed)
    with pytest.raises(ConfigError) as caught:
        do_plan(ctx, open_run(ctx))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'mapping.toml'}:8: ")
    assert "1 pupil(s) of class CM2" in message
    assert "p9" not in message
    assert "Abel" not in message
