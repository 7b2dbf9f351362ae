"""A delta AAF bundle after a complete one: guardians the delta does not carry are found in the state
store (not reported as dangling), and nothing is deleted silently."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ent_migrate.connectors.aaf.connector import AafConnector
from ent_migrate.connectors.aaf.writer import write_aaf
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import (
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
from ent_migrate.pipeline import PlanInputError, do_run
from tests.pipeline._helpers import context, engine

UAI = "0801234G"


def _district() -> list[Structure | Person | Group | Membership | Guardianship]:
    return [
        Structure(uai=UAI, name="COLLEGE JEAN MOULIN", type="COLLEGE", jointure="4242"),
        Group(uai=UAI, code="6A", group_kind=GroupKind.CLASS, name="6A"),
        Person(
            id="1001",
            profile=Profile.STUDENT,
            last_name="Dupont",
            first_name="Léa",
            birth_date=dt.date(2013, 5, 2),
            ine="1234567890A",
            structures=(UAI,),
        ),
        Person(id="2001", profile=Profile.GUARDIAN, last_name="Dupont", first_name="Anne", structures=(UAI,)),
        Membership(person_id="1001", uai=UAI, group_code="6A"),
        Guardianship(guardian_id="2001", student_id="1001", legal_level=1, kinship="10"),
    ]


def test_delta_guardian_known_from_the_state_store(tmp_path: Path) -> None:
    records = _district()
    write_aaf(records, tmp_path / "ENT2D.20250901", file_prefix="ENT2D")
    db = engine(tmp_path)
    first = do_run(context(tmp_path, db=db, source=f"aaf:{tmp_path / 'ENT2D.20250901'}"))
    assert first["verify"]["marks"]["+"] == 0
    assert first["plan"]["problems"] == []
    # the delta carries the pupil (her class changed) and her link, not her guardian
    pupil = next(r for r in records if isinstance(r, Person) and r.id == "1001")
    delta_records: list[Record] = [r for r in records if isinstance(r, Structure | Group)]
    delta_records += [
        Group(uai=UAI, code="6B", group_kind=GroupKind.CLASS, name="6B"),
        pupil,
        Membership(person_id="1001", uai=UAI, group_code="6B"),
        Guardianship(guardian_id="2001", student_id="1001", legal_level=1, kinship="10"),
    ]
    write_aaf(delta_records, tmp_path / "ENT2DDelta.20250902", file_prefix="ENT2DDelta", delta=True)
    second = do_run(context(tmp_path, db=db, source=f"aaf:{tmp_path / 'ENT2DDelta.20250902'}"))
    codes = {p["code"] for p in second["plan"]["problems"]}
    assert "ref.dangling" not in codes
    target = MemoryConnector.named_store("dst")
    assert "2001|1001" in target.records[RecordKind.GUARDIANSHIP]
    assert Membership(person_id="1001", uai=UAI, group_code="6B").key in target.records[RecordKind.MEMBERSHIP]
    # a delta never deletes: the guardian it lacks stays active, the old class link stays
    assert second["plan"]["actions"]["disable"] == 0
    assert second["plan"]["actions"]["delete"] == 0
    assert "2001" not in target.disabled
    assert Membership(person_id="1001", uai=UAI, group_code="6A").key in target.records[RecordKind.MEMBERSHIP]
    assert second["verify"]["marks"] == {"=": second["verify"]["marks"]["="], "+": 0, "-": 0, "*": 0, "!": 0}


def test_delta_guardian_unknown_anywhere_is_dangling(tmp_path: Path) -> None:
    records = _district()
    delta_records = [r for r in records if not (isinstance(r, Person) and r.id == "2001")]
    write_aaf(delta_records, tmp_path / "ENT2DDelta.20250902", file_prefix="ENT2DDelta", delta=True)
    with pytest.raises(PlanInputError, match="1 input error") as refused:
        do_run(context(tmp_path, source=f"aaf:{tmp_path / 'ENT2DDelta.20250902'}"))
    codes = {p["code"] for p in refused.value.result["problems"]}
    assert "ref.dangling" in codes  # an input error: plan stops (exit 1), nothing is written
    assert not MemoryConnector.named_store("dst").writes


@pytest.mark.parametrize("in_child", [True, False], ids=["read in a child", "read here"])
def test_a_bundle_only_its_file_names_call_a_delta_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_child: bool
) -> None:
    """The folder's name does not say Delta, its files' names do: the reader decides it is a delta as it
    reads, and a read in extract's forked child brings that decision back with its problems, so the
    plan still never disables what the delta lacks."""
    monkeypatch.setattr(AafConnector, "reads_in_child", in_child)
    records = _district()
    write_aaf(records, tmp_path / "feed-0901", file_prefix="ENT2D")
    db = engine(tmp_path)
    do_run(context(tmp_path, db=db, source=f"aaf:{tmp_path / 'feed-0901'}"))
    without_guardian = [r for r in records if not (isinstance(r, Person) and r.id == "2001")]
    write_aaf(without_guardian, tmp_path / "feed-0902", file_prefix="ENT2D", delta=True)
    assert all("_Delta_" in p.name for p in (tmp_path / "feed-0902").glob("*.xml"))
    second = do_run(context(tmp_path, db=db, source=f"aaf:{tmp_path / 'feed-0902'}"))
    assert second["plan"]["actions"]["disable"] == 0
    assert second["plan"]["actions"]["delete"] == 0
    assert "2001" not in MemoryConnector.named_store("dst").disabled
