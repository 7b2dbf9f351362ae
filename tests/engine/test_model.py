"""The canonical model: fingerprints are stable across processes, key order and Unicode forms, and
change with any field; ``record_from_dict`` inverts ``canonical_dict`` for every kind."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import subprocess
import sys
import types
import typing
import unicodedata
from enum import StrEnum
from typing import Any, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.kit import case_names, load_case
from ent_migrate.model import (
    RECORD_TYPES,
    Person,
    Profile,
    Record,
    RecordKind,
    canonical_bytes,
    canonical_dict,
    fingerprint,
    record_from_dict,
)

# Text with the characters French ENT data really holds (accents, both apostrophes, combining marks),
# never lone surrogates (they cannot be UTF-8 encoded, and no source can hold them).
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("aeiouyAEIOUÉÈÊËéèêëàâäçÇîïôöùûüÿœŒæ'’- \u0301\u0308\u0327"),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=12,
)
# Naive datetimes or aware ones in these zones; two strategies because hypothesis types a naive bound with
# an aware-only ``timezones`` (it accepts ``None`` in the list at run time, not in its overloads).
AWARE_TIMEZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))])


def _strategy(annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return st.none() | _strategy(args[0])
    if origin is tuple:
        return st.lists(TEXT, max_size=3).map(tuple)
    if annotation is dt.datetime:
        low, high = dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1)
        return st.datetimes(low, high) | st.datetimes(low, high, timezones=AWARE_TIMEZONES)
    if annotation is dt.date:
        return st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1))
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return st.sampled_from(list(annotation))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=0, max_value=2**40)
    if annotation is str:
        return TEXT
    raise AssertionError(f"no strategy for {annotation!r}")


def records_of(kind: RecordKind) -> st.SearchStrategy[Record]:
    cls = RECORD_TYPES[kind]
    hints = typing.get_type_hints(cls)
    fields = {f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


ANY_RECORD = st.sampled_from(list(RecordKind)).flatmap(records_of)


def _nfd(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFD", value)
    if isinstance(value, list):
        return [_nfd(v) for v in value]
    return value


def _changed(annotation: Any, value: Any) -> Any:
    """A value of the field's type that differs from *value*."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        if value is not None:
            return None
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _changed(args[0], None)
    if origin is tuple:
        return (*value, "x")
    if annotation is dt.datetime:
        return (value or dt.datetime(2000, 1, 1)) + dt.timedelta(seconds=1)
    if annotation is dt.date:
        return (value or dt.date(2000, 1, 1)) + dt.timedelta(days=1)
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        members = list(annotation)
        return members[(members.index(value) + 1) % len(members)]
    if annotation is bool:
        return not value
    if annotation is int:
        return (value or 0) + 1
    if annotation is str:
        return (value or "") + "x"
    raise AssertionError(annotation)


@pytest.mark.parametrize("kind", list(RecordKind))
@given(data=st.data())
def test_round_trip_through_canonical_dict(kind: RecordKind, data: st.DataObject) -> None:
    record = data.draw(records_of(kind))
    back = record_from_dict(json.loads(json.dumps(canonical_dict(record))))
    assert back == record
    assert type(back) is type(record)
    assert fingerprint(back) == fingerprint(record)


@given(record=ANY_RECORD, seed=st.integers())
def test_fingerprint_ignores_dict_key_order(record: Record, seed: int) -> None:
    items = list(canonical_dict(record).items())
    random.Random(seed).shuffle(items)
    assert fingerprint(record_from_dict(dict(items))) == fingerprint(record)


@given(record=ANY_RECORD)
def test_fingerprint_ignores_unicode_normal_form(record: Record) -> None:
    nfd = {key: _nfd(value) for key, value in canonical_dict(record).items()}
    assert fingerprint(record_from_dict(nfd)) == fingerprint(record)
    assert canonical_bytes(record_from_dict(nfd)) == canonical_bytes(record)


def test_same_person_typed_nfc_and_nfd_is_one_fingerprint() -> None:
    nfc = Person(id="p1", profile=Profile.STUDENT, last_name="Lefèvre", first_name="Éloïse")
    nfd = Person(id="p1", profile=Profile.STUDENT, last_name="Lefe\u0300vre", first_name="E\u0301loi\u0308se")
    assert nfd.last_name == "Lefèvre"  # normalised on the way in
    assert nfc == nfd
    assert fingerprint(nfc) == fingerprint(nfd)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(record=ANY_RECORD, data=st.data())
def test_fingerprint_changes_when_any_single_field_changes(record: Record, data: st.DataObject) -> None:
    hints = typing.get_type_hints(type(record))
    field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(record)]))
    changed = dataclasses.replace(record, **{field: _changed(hints[field], getattr(record, field))})
    assert changed != record
    assert fingerprint(changed) != fingerprint(record), f"changing {field} left the fingerprint unchanged"


def _fingerprints_in_subprocess(dicts: list[dict[str, Any]], hash_seed: str) -> list[str]:
    script = (
        "import json, sys\n"
        "from ent_migrate.model import fingerprint, record_from_dict\n"
        "for line in sys.stdin:\n"
        "    print(fingerprint(record_from_dict(json.loads(line))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input="".join(json.dumps(d) + "\n" for d in dicts),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


@settings(max_examples=5, deadline=None)
@given(records=st.lists(ANY_RECORD, min_size=1, max_size=20))
def test_fingerprint_identical_in_another_process(records: list[Record]) -> None:
    # The hostile kit cases ride along: real-shaped accents, particles and dates.
    cases = [r for name in case_names() for r in load_case(name).records]
    everything = records + cases
    here = [fingerprint(r) for r in everything]
    dicts = [canonical_dict(r) for r in everything]
    assert _fingerprints_in_subprocess(dicts, "1") == here
    assert _fingerprints_in_subprocess(dicts, "4242") == here


def test_fingerprint_is_pinned() -> None:
    """A known record's fingerprint never changes between versions (it keys every stored state).
    Changed on purpose once: Person.birth_name (SIECLE NOM_DE_FAMILLE) joined the model in revision 0002's
    release; fingerprints stored before it differ, so a store from before re-plans every person."""
    person = Person(
        id="p1", profile=Profile.STUDENT, last_name="Lefèvre", first_name="Éloïse", birth_date=dt.date(2015, 9, 1)
    )
    expected = (
        b'{"active":true,"birth_date":"2015-09-01","birth_name":null,"civility":null,"emails":[],"first_name":"\xc3\x89lo\xc3\xafse","id":"p1",'
        b'"ine":null,"kind":"person","last_name":"Lef\xc3\xa8vre","login":null,"other_first_names":[],'
        b'"profile":"student","source_ids":[],"structures":[]}'
    )
    assert canonical_bytes(person) == expected
    assert fingerprint(person) == hashlib.sha256(expected).hexdigest()


@settings(max_examples=300, deadline=None)
@given(
    st.text(),
    st.lists(st.text(), max_size=4),
    st.lists(st.text(st.characters(max_codepoint=0x7F)), max_size=3),
)
def test_every_text_field_and_text_tuple_is_stored_nfc(name: str, emails: list[str], structures: list[str]) -> None:
    """Issue 15 tests a tuple with one join: whatever the text, each item ends in NFC, and the canonical
    dict holds the same lists."""
    person = Person(
        id="p",
        profile=Profile.STUDENT,
        last_name=name,
        first_name="x",
        emails=tuple(emails),
        structures=tuple(structures),
    )
    assert person.last_name == unicodedata.normalize("NFC", name)
    assert person.emails == tuple(unicodedata.normalize("NFC", e) for e in emails)
    assert person.structures == tuple(structures)
    data = person.to_dict()
    assert data["emails"] == [unicodedata.normalize("NFC", e) for e in emails]
    assert data["structures"] == structures
    assert record_from_dict(data) == person
