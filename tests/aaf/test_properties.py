"""Property: any printable text in names survives the AAF writer and reader, in UTF-8 and ISO-8859-15."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.aaf.values import KINSHIP_OLD_TO_NEW, kinship_code, split_dollar
from ent_migrate.fixtures.aaf_writer import aaf_projection, write_aaf
from ent_migrate.model import Person, Profile, Structure
from tests.aaf.helpers import read_all

# XML 1.0 cannot carry most control characters, and parsers turn \r into \n: real names have neither.
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r"), min_size=1, max_size=30)


@settings(max_examples=30, deadline=None)
@given(last=TEXT, first=TEXT, others=st.lists(TEXT, max_size=3), encoding=st.sampled_from(["UTF-8", "ISO-8859-15"]))
def test_names_round_trip(last: str, first: str, others: list[str], encoding: str) -> None:
    school = Structure(uai="0350001A", name="École & <Collège>", type="COLLEGE", jointure="10", city="Rennes")
    person = Person(
        id="100",
        profile=Profile.GUARDIAN,
        last_name=last,
        first_name=first,
        other_first_names=tuple(others),
        birth_date=dt.date(1980, 1, 2),
        structures=("0350001A",),
    )
    with tempfile.TemporaryDirectory() as folder:
        write_aaf([school, person], Path(folder), encoding=encoding)
        records, problems = read_all(Path(folder))
    assert [p["code"] for p in problems] == ["guardian.orphan"]  # a guardian alone: expected, and only that
    assert sorted(records, key=lambda r: r.kind) == sorted(aaf_projection([school, person]), key=lambda r: r.kind)


@given(parts=st.lists(st.text(st.characters(blacklist_characters="$"), max_size=8), min_size=1, max_size=6))
def test_split_dollar_with_a_prefix(parts: list[str]) -> None:
    value = "$".join(parts)
    assert split_dollar(value) == parts
    prefixed = split_dollar("AC-RENNES$" + value, "AC-RENNES$")
    assert prefixed == ["AC-RENNES$" + parts[0], *parts[1:]]


def test_kinship_codes() -> None:
    assert [kinship_code(c) for c in ("1", "2", "10", "20", " 3 ", "")] == ["20", "10", "10", "20", "50", None]
    assert set(KINSHIP_OLD_TO_NEW.values()) <= {"10", "20", "39", "50", "51", "70", "90"}
