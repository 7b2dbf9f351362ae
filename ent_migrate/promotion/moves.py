"""What moves with a pupil besides its documents: parents linked, mail under ``École/``, collaborative
works with their co-authors minimised. Pure functions: the engine makes the effects.

Parents. Each guardian of the pupil on the primary side is looked for on the collège side (SIECLE /
AAF 2D), never created: first by the same id (or one of ``source_ids``, where a delivery carries the
jointure of the other side), then among the guardians of the matched 6e pupil (the shared child) by
the reconciliation's explained score on folded names, the shared child counting as ``children``.
One sure candidate is linked; none, or more than one, or one in the review band, is reported.

Collaborative works. The model has no co-author field, and none is added: a production is
collaborative when the primary side holds the same item (application + ``source_ref``) under more
than one owner, as an ENT's export gives each participant a copy. Its co-authors are the other
owners; their names, as the primary side knows them, are reduced to first name and initial
("Léa M.") inside the exported HTML/JSON, and the copy is filed read-only (:data:`COLLAB_DIR`; the
zip entry's mode is 0444). The pupil's own name stays: it is the pupil's work.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ent_migrate.matching import DEFAULT_WEIGHTS, MATCH, NONE, PersonFacts, score
from ent_migrate.model import Guardianship, Mailbox, Message, Person, Production, Profile

__all__ = [
    "COLLAB_DIR",
    "MAIL_ROOT",
    "GuardianLinks",
    "coauthors_of",
    "eml_path",
    "link_guardians",
    "mail_folder",
    "mail_of",
    "minimise_names",
    "short_name",
]

MAIL_ROOT = "École"  # the primary mail goes under this folder, so it never mixes with the collège's
COLLAB_DIR = "Travaux collaboratifs (lecture seule)"
_CHILD = "child"  # the shared child, as the token both sides' facts carry (children key of the score)


@dataclasses.dataclass(frozen=True, slots=True)
class GuardianLinks:
    linked: tuple[tuple[Guardianship, str], ...]  # the primary link, the collège-side guardian id
    unlinked: tuple[tuple[str, str], ...]  # primary guardian id, why (for the problem's detail)


def _facts(key: str, person: Person) -> PersonFacts:
    return PersonFacts.from_payload(key, person.to_dict(), children_ines=(_CHILD,))


def _same_id(a: Person, b: Person) -> bool:
    return a.id == b.id or a.id in b.source_ids or b.id in a.source_ids


def link_guardians(
    links: Iterable[Guardianship],
    primary_people: Mapping[str, Person],
    college_child: Sequence[str],
    college_people: Mapping[str, Person],
) -> GuardianLinks:
    """The collège-side guardian of each primary guardian in *links* (one pupil's), or why none.

    *college_child* are the ids of the collège-side guardians of the matched 6e pupil."""
    guardians = [p for p in college_people.values() if p.profile is Profile.GUARDIAN]
    linked: list[tuple[Guardianship, str]] = []
    unlinked: list[tuple[str, str]] = []
    for link in sorted(links, key=lambda g: g.guardian_id):
        person = primary_people.get(link.guardian_id)
        if person is None:
            unlinked.append((link.guardian_id, "not in the primary accounts"))
            continue
        by_id = sorted(g.id for g in guardians if _same_id(person, g))
        if len(by_id) == 1:
            linked.append((link, by_id[0]))
            continue
        facts = _facts("primary:" + person.id, person)
        scored = [
            (score(facts, _facts("college:" + gid, college_people[gid]), DEFAULT_WEIGHTS), gid)
            for gid in sorted(set(college_child))
            if gid in college_people
        ]
        sure = [gid for e, gid in scored if e.decision == MATCH]
        unsure = [gid for e, gid in scored if e.decision not in (MATCH, NONE)]
        if len(sure) == 1 and not unsure:
            linked.append((link, sure[0]))
        elif sure or unsure:
            unlinked.append((link.guardian_id, f"{len(sure) + len(unsure)} uncertain candidate(s): review"))
        else:
            unlinked.append((link.guardian_id, "not on the collège side"))
    # two primary guardians found as one collège guardian: linked once (never a second account, nor link)
    seen: set[str] = set()
    kept = []
    for link, gid in linked:
        if gid not in seen:
            seen.add(gid)
            kept.append((link, gid))
    return GuardianLinks(tuple(kept), tuple(unlinked))


# ------------------------------------------------------------------------------------------- mail


def mail_folder(name: str) -> str:
    """``INBOX`` → ``École/INBOX``, ``Sent`` → ``École/Sent``, ``INBOX/Archives`` → ``École/INBOX/Archives``."""
    return f"{MAIL_ROOT}/{name.strip('/')}" if name.strip("/") else MAIL_ROOT


def eml_path(message: Message) -> str:
    """Where a message goes in the pupil's zip when the target takes no mail: named by its digest,
    so a message stored twice in one folder is one file and a re-made zip has the same names."""
    return f"{mail_folder(message.mailbox)}/{message.sha256[:16]}.eml"


def mail_of(records: Iterable[Mailbox | Message]) -> tuple[dict[str, list[Mailbox]], dict[str, list[Message]]]:
    """Mail folders and messages by owner."""
    boxes: dict[str, list[Mailbox]] = {}
    messages: dict[str, list[Message]] = {}
    for rec in records:
        if isinstance(rec, Mailbox):
            boxes.setdefault(rec.owner_id, []).append(rec)
        else:
            messages.setdefault(rec.owner_id, []).append(rec)
    return boxes, messages


# ------------------------------------------------------------------------------------- co-authors


def coauthors_of(documents: Mapping[str, Sequence[Any]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(application, source_ref) → the owners holding that item, for items held by two or more."""
    owners: dict[tuple[str, str], set[str]] = {}
    for owner, docs in documents.items():
        for d in docs:
            if isinstance(d, Production) and d.source_ref:
                owners.setdefault((d.app, d.source_ref), set()).add(owner)
    return {k: tuple(sorted(v)) for k, v in owners.items() if len(v) > 1}


def short_name(first: str, last: str) -> str:
    """``Léa``, ``Martin`` → ``Léa M.``: first name and the last name's initial."""
    initial = next((c for c in last if c.isalpha()), "")
    return f"{first} {initial.upper()}." if initial else first


def _pattern(first: str, last: str) -> re.Pattern[str] | None:
    words = [w for w in (first.split(), last.split()) if w]
    if len(words) < 2:
        return None  # a name we cannot tell from ordinary words: nothing is replaced
    f, lt = (r"\s+".join(re.escape(x) for x in w) for w in words)
    forms = [rf"{f}\s+{lt}", rf"{lt}\s+{f}", rf"{lt},\s*{f}"]
    return re.compile(r"(?<!\w)(?:" + "|".join(forms) + r")(?!\w)", re.IGNORECASE)


def _replace_text(text: str, people: Sequence[tuple[str, str]]) -> str:
    text = unicodedata.normalize("NFC", text)
    for first, last in people:
        first, last = unicodedata.normalize("NFC", first), unicodedata.normalize("NFC", last)
        short = short_name(first, last)
        for f, lt, out in ((first, last, short), (html.escape(first), html.escape(last), html.escape(short))):
            pat = _pattern(f, lt)
            if pat is not None:
                text = pat.sub(out, text)
    return text


def _walk(value: Any, people: Sequence[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        return _replace_text(value, people)
    if isinstance(value, list):
        return [_walk(v, people) for v in value]
    if isinstance(value, dict):
        return {_walk(k, people): _walk(v, people) for k, v in value.items()}
    return value


def minimise_names(data: bytes, media_type: str, people: Sequence[tuple[str, str]]) -> bytes:
    """*data* with each (first, last) of *people* written "First L.": full names in either order
    ("Léa Martin", "MARTIN Léa", "Martin, Léa"), any case, HTML-escaped too. JSON is parsed and
    every string rewritten (a name escaped as ``\\u00e9`` is found too); other text is rewritten as
    text; bytes that are not UTF-8 text are returned as they are (nothing in them can be read as a name)."""
    if not people:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            return json.dumps(_walk(parsed, people), ensure_ascii=False, indent=1).encode("utf-8")
    return _replace_text(text, people).encode("utf-8")
