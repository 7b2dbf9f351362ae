"""Each production format parses back with its own library, and the HTML sanitiser strips scripts."""

from __future__ import annotations

import datetime as dt
import json

import icalendar
import vobject  # type: ignore[import-untyped]  # vobject ships no type hints
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from ent_migrate.productions import calendar, etherpad, html, mindmap, timeline, vcard

_TREE = {"title": "Révisions & <bac>", "children": [{"title": "Histoire", "children": [{"title": "1914"}]}]}


def test_freemind_parses_with_the_tree() -> None:
    root = etree.fromstring(mindmap.to_freemind(_TREE))
    assert root.tag == "map"
    assert [n.get("TEXT") for n in root.iter("node")] == ["Révisions & <bac>", "Histoire", "1914"]


def test_opml_parses_with_the_tree() -> None:
    root = etree.fromstring(mindmap.to_opml(_TREE))
    assert root.findtext("head/title") == "Révisions & <bac>"
    assert [n.get("text") for n in root.iter("outline")] == ["Révisions & <bac>", "Histoire", "1914"]


def test_timelinejs_json() -> None:
    event = {"headline": "Armistice", "startDate": "1918-11-11", "endDate": "1919-06-28", "text": "<script>x</script>"}
    data = json.loads(timeline.to_timelinejs("XXe", [event]))
    (out,) = data["events"]
    event = out
    assert event["start_date"] == {"year": "1918", "month": "11", "day": "11"}
    assert event["end_date"]["year"] == "1919"
    assert "<script" not in event["text"]["text"]


def test_icalendar_parses_back() -> None:
    stamp = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    data = calendar.to_icalendar(
        "Agenda",
        [{"_id": "e1", "title": "Conseil", "startMoment": "2026-12-10T17:00:00.000Z", "location": "Salle 12"}],
        stamp=stamp,
    )
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["summary"]) == "Conseil"
    assert str(event["uid"]) == "e1"
    assert event.decoded("dtstart") == dt.datetime(2026, 12, 10, 17, tzinfo=dt.UTC)


def test_vcards_parse_back() -> None:
    data = vcard.to_vcards(
        [{"uid": "p1", "first_name": "Zoé", "last_name": "Martin", "email": "z@example.org"}, {"uid": "p2"}]
    ).decode()
    cards = list(vobject.readComponents(data))
    assert [c.uid.value for c in cards] == ["p1", "p2"]
    assert cards[0].fn.value == "Zoé Martin"
    assert cards[0].email.value == "z@example.org"


def test_etherpad_keeps_the_history() -> None:
    data = json.loads(etherpad.to_etherpad("pad1", "Notes", [{"changeset": "Z:1>5+5$Notes", "timestamp": 1}]))
    assert data["pad:pad1"]["atext"]["text"] == "Notes\n"
    assert data["pad:pad1"]["head"] == 0
    assert data["pad:pad1:revs:0"]["changeset"] == "Z:1>5+5$Notes"


def test_sanitiser_strips_scripts_and_handlers() -> None:
    out = html.sanitize('<p onclick="x()">a<script>alert(1)</script><a href="javascript:x()">l</a></p>')
    assert "script" not in out
    assert "onclick" not in out
    assert "javascript:" not in out
    assert "<p>" in out


def test_media_bundled_and_missing_reported() -> None:
    link = '<img src="/workspace/document/0f6a3c52-93f4-4e0b-8d0e-5c1c7a9b2e44">'
    lost = '<img src="/workspace/document/11111111-2222-3333-4444-555555555555">'
    found = {"0f6a3c52-93f4-4e0b-8d0e-5c1c7a9b2e44": ("image/png", b"PNG")}
    out, missing = html.bundle_media(link + lost, found.get)
    assert 'src="data:image/png;base64,UE5H"' in out
    assert "/workspace/document/" not in out
    assert missing == ["11111111-2222-3333-4444-555555555555"]


@given(st.text(max_size=200))
def test_page_is_always_sanitised(fragment: str) -> None:
    page = html.page("t", [("h", fragment + "<script>alert(1)</script>")]).decode()
    assert "<script" not in page.lower()
