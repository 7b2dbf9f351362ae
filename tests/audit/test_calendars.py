"""R12: iCalendar and vCard files parsed with icalendar and vobject, unreadable items counted per file."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ent_migrate.audit.calendars import ItemCount, read_calendar_file
from ent_migrate.cli.app import app
from ent_migrate.model import Person, Production, Profile
from ent_migrate.productions.calendar import to_icalendar
from ent_migrate.productions.vcard import to_vcards
from tests.audit.conftest import PASSING_CLAUSES, Handback, Items

STAMP = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
runner = CliRunner()


def _events(n: int) -> list[dict[str, str]]:
    return [
        {"_id": f"ev{i}", "title": f"Sortie {i}", "startMoment": f"2026-10-{i + 1:02d}T09:00:00Z"} for i in range(n)
    ]


def _cards(n: int) -> list[dict[str, str]]:
    return [{"uid": f"u{i}", "first_name": "Léa", "last_name": f"Martin{i}"} for i in range(n)]


@given(n=st.integers(min_value=1, max_value=12), broken=st.data())
def test_every_event_is_counted_and_a_broken_one_is_unreadable(n: int, broken: st.DataObject) -> None:
    data = to_icalendar("Agenda", _events(n), stamp=STAMP)
    assert read_calendar_file(data, "text/calendar") == ItemCount(n, 0)
    i = broken.draw(st.integers(min_value=0, max_value=n - 1))
    bad = data.replace(f"DTSTART:202610{i + 1:02d}T090000Z".encode(), b"DTSTART:le mardi")
    assert read_calendar_file(bad, "text/calendar") == ItemCount(n, 1)


@given(n=st.integers(min_value=1, max_value=12), broken=st.data())
def test_every_card_is_counted_and_one_without_fn_is_unreadable(n: int, broken: st.DataObject) -> None:
    data = to_vcards(_cards(n))
    assert read_calendar_file(data, "text/vcard") == ItemCount(n, 0)
    i = broken.draw(st.integers(min_value=0, max_value=n - 1))
    bad = data.replace(f"FN:Léa Martin{i}\r\n".encode(), b"")
    assert read_calendar_file(bad, "text/vcard") == ItemCount(n, 1)


def test_an_event_without_uid_is_unreadable() -> None:
    data = to_icalendar("Agenda", _events(3), stamp=STAMP).replace(b"UID:ev1\r\n", b"")
    assert read_calendar_file(data, "text/calendar") == ItemCount(3, 1)


def test_a_line_vobject_cannot_parse_makes_the_rest_of_the_file_one_unreadable_item() -> None:
    data = to_vcards(_cards(3)).replace("FN:Léa Martin1\r\n".encode(), b"a line with no colon\r\n")
    assert read_calendar_file(data, "text/vcard") == ItemCount(2, 1)  # card 0 read, then one for the rest


def test_files_that_are_not_what_they_claim_are_one_unreadable_item() -> None:
    cal, cards = to_icalendar("Agenda", _events(1), stamp=STAMP), to_vcards(_cards(1))
    for data, media, expected in [
        (b"", "text/calendar", ItemCount(0, 1)),
        (b"garbage", "text/calendar", ItemCount(0, 1)),
        (cards, "text/calendar", ItemCount(0, 1)),  # a vCard served as text/calendar
        (cal.replace(b"END:VCALENDAR\r\n", b""), "text/calendar", ItemCount(0, 1)),
        (cal, "text/vcard", ItemCount(1, 1)),  # vobject reads a VCALENDAR: one item, not a card
        ("Événement".encode("latin-1"), "text/calendar", ItemCount(0, 1)),  # RFC 5545: UTF-8
    ]:
        assert read_calendar_file(data, media) == expected, (data[:20], media)


def _with_calendars(items: Items) -> Items:
    """Two agendas for the first pupil: one sound, one with a broken event."""
    owner = None
    for record, blob in items:
        if owner is None and isinstance(record, Person) and record.profile == Profile.STUDENT:
            owner = record.id
        yield record, blob
    assert owner is not None
    good = to_icalendar("Agenda", _events(3), stamp=STAMP)
    bad = to_icalendar("Agenda", _events(2), stamp=STAMP).replace(b"DTSTART:20261001T090000Z", b"DTSTART:x")
    for ref, data in (("cal-good", good), ("cal-bad", bad)):
        sha = hashlib.sha256(data).hexdigest()
        record = Production(
            owner_id=owner,
            app="calendar",
            title="Agenda",
            format="text/calendar",
            sha256=sha,
            size=len(data),
            source_ref=ref,
        )
        yield record, data


def test_r12_names_the_file_with_unreadable_events(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback(_with_calendars)
    hb.write_clauses(PASSING_CLAUSES.replace('promised = ["R01"', 'promised = ["R12", "R01"'))
    result = runner.invoke(app, ["audit", "-c", str(hb.config), "--clauses", str(hb.clauses), "--json"])
    doc: dict[str, Any] = json.loads(result.stdout)
    r12 = next(c for c in doc["clauses"] if c["clause"] == "R12")
    assert r12["verdict"] == "partiel"
    assert result.exit_code == 1
    assert r12["evidence"] == {
        "par_format": {"text/calendar": 2},
        "invalides": 1,
        "elements": 5,
        "elements_illisibles": 1,
    }
    [failing] = r12["failing"]
    assert failing.startswith("p:")
    assert failing.endswith(" (calendar) : 1 illisible(s)")
    assert "Sortie" not in result.stdout
