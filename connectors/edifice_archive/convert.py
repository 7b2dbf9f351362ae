"""One Edifice application's items -> Production bytes in open formats (ent_migrate.productions)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ent_migrate.productions import calendar, etherpad, html, mindmap, timeline

__all__ = ["Converted", "convert_module", "parse_json"]

#: (source_ref, title, media type, bytes, workspace ids referenced but not resolved)
Converted = tuple[str, str, str, bytes, list[str]]
Resolve = Callable[[str], tuple[str, bytes] | None]


def _title(doc: Mapping[str, Any], *keys: str) -> str:
    return next((str(doc[k]) for k in keys if doc.get(k)), "")


def _html(title: str, sections: list[tuple[str, str]], resolve: Resolve) -> tuple[bytes, list[str]]:
    missing: list[str] = []
    bundled = []
    for heading, fragment in sections:
        text, lost = html.bundle_media(fragment, resolve)
        missing += lost
        bundled.append((heading, text))
    return html.page(title, bundled), missing


def convert_module(module: str, docs: Mapping[str, Any], resolve: Resolve, stamp: dt.datetime) -> Iterator[Converted]:
    """*docs*: member path (relative to the module folder) -> parsed JSON."""
    tops = {p: d for p, d in docs.items() if "/" not in p and isinstance(d, Mapping)}
    for path, doc in sorted(tops.items()):
        ref = str(doc.get("_id") or path)
        if module == "blog":
            posts = [d for p, d in sorted(docs.items()) if p.startswith("Posts/") and isinstance(d, Mapping)]
            mine = [p for p in posts if (p.get("blog") or {}).get("$id") == doc.get("_id")]
            title = _title(doc, "title")
            page, lost = _html(title, [(_title(p, "title"), str(p.get("content") or "")) for p in mine], resolve)
            yield ref, title, "text/html", page, lost
        elif module == "wiki":
            title = _title(doc, "title")
            pages = [(_title(p, "title"), str(p.get("content") or "")) for p in doc.get("pages") or ()]
            page, lost = _html(title, pages, resolve)
            yield ref, title, "text/html", page, lost
        elif module == "pad":
            title = _title(doc, "name", "title")
            page, lost = _html(title, [("", str(doc.get("html") or ""))], resolve)
            yield ref, title, "text/html", page, lost
            if doc.get("revisions"):
                data = etherpad.to_etherpad(ref, str(doc.get("text") or ""), doc["revisions"])
                yield f"{ref}.etherpad", title, "application/json", data, []
        elif module == "mindmap":
            title = _title(doc, "name", "title")
            tree = doc.get("map") or {"title": title}
            yield f"{ref}.mm", title, "application/x-freemind", mindmap.to_freemind(tree), []
            yield f"{ref}.opml", title, "text/x-opml", mindmap.to_opml(tree), []
        elif module == "timeline":
            title = _title(doc, "headline", "title")
            yield ref, title, "application/json", timeline.to_timelinejs(title, doc.get("events") or ()), []
        elif module == "wall":
            title = _title(doc, "name", "title")
            notes = [("", str(n.get("content") or "")) for n in doc.get("notes") or ()]
            page, lost = _html(title, notes, resolve)
            yield ref, title, "text/html", page, lost
        elif module == "calendar":
            title = _title(doc, "title")
            yield ref, title, "text/calendar", calendar.to_icalendar(title, doc.get("events") or (), stamp=stamp), []


def parse_json(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))
