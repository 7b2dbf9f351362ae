"""The record classes' written-out ``__init__`` (model._fast_init) leaves every field exactly as the
dataclass ``__init__`` + the NFC walk did, whatever the values — of the annotated type or not."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import typing
import unicodedata
from enum import StrEnum
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.model import RECORD_TYPES, GroupKind, Membership, Person, Profile, RecordKind

# Text that NFC changes (combining marks, a singleton like U+2126 OHM, an em quad U+2001), and ASCII.
_PIECES = ["a", "Z", "$", " ", "e\u0301", "\u00e9", "\u2126", "\u2001", "\u0301"]
_ASCII = st.text(alphabet="aZ$ ", max_size=3)
# mostly ASCII, as real records: a lone non-ASCII field is the case the all-fields check must catch
_TEXT = st.one_of(_ASCII, _ASCII, _ASCII, _ASCII, st.lists(st.sampled_from(_PIECES), max_size=4).map("".join))
_VALUE = st.one_of(
    _TEXT,
    st.tuples(_TEXT, _TEXT),
    st.tuples(),
    st.tuples(_TEXT, st.integers()),  # not a tuple of text: left alone
    st.lists(_TEXT, max_size=2),  # a list is not a tuple: left alone
    st.none(),
    st.integers(),
    st.booleans(),
    st.dates(),
    st.sampled_from([Profile.STUDENT, GroupKind.CLASS]),
)


def _typed(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of the annotated type: the checked fast path, which random types mostly skip."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple:
        return st.lists(_typed(args[0]), max_size=3).map(tuple)
    if args:  # X | None
        return st.one_of(st.none(), *(_typed(a) for a in args if a is not type(None)))
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return st.sampled_from(list(annotation))
    known: dict[Any, st.SearchStrategy[Any]] = {
        str: _TEXT,
        int: st.integers(),
        bool: st.booleans(),
        dt.date: st.dates(),
        dt.datetime: st.datetimes(),
    }
    return known[annotation]


def _expected(value: Any) -> Any:
    """What the field-by-field walk (the dataclass __post_init__ before issue 15) leaves."""
    if isinstance(value, str):
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, tuple) and value:
        try:
            joined = "".join(value)
        except TypeError:
            return value
        if not joined.isascii():
            return tuple(v if v.isascii() else unicodedata.normalize("NFC", v) for v in value)
    return value


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(RECORD_TYPES)), data=st.data())
def test_fields_end_as_the_walk_leaves_them(kind: RecordKind, data: st.DataObject) -> None:
    cls = RECORD_TYPES[kind]
    hints = typing.get_type_hints(cls)
    typed = data.draw(st.booleans(), label="typed")  # all fields of their type, or some of any type
    values = {
        f.name: data.draw(_typed(hints[f.name]) if typed else st.one_of(_typed(hints[f.name]), _VALUE), label=f.name)
        for f in dataclasses.fields(cls)
    }
    record = cls(**values)
    for name, value in values.items():
        got, want = getattr(record, name), _expected(value)
        assert got == want, name
        assert type(got) is type(want), name


def _ascii_value(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is tuple:
        return ("a",)
    if args:
        return _ascii_value(args[0])
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return next(iter(annotation))
    known = {str: "a", int: 1, bool: True, dt.date: dt.date(2000, 1, 2), dt.datetime: dt.datetime(2000, 1, 2)}
    return known[annotation]


@pytest.mark.parametrize("kind", sorted(RECORD_TYPES))
@pytest.mark.parametrize("odd", ["e\u0301", ("a", "e\u0301"), ["e\u0301"], ("e\u0301", 1)])
def test_one_odd_field_among_ascii_ones_is_seen(kind: RecordKind, odd: Any) -> None:
    """Each field in turn holds the only non-ASCII text (or a value of another type) of a record."""
    cls = RECORD_TYPES[kind]
    hints = typing.get_type_hints(cls)
    plain = {f.name: _ascii_value(hints[f.name]) for f in dataclasses.fields(cls)}
    for name in plain:
        record = cls(**{**plain, name: odd})
        assert getattr(record, name) == _expected(odd), name
        assert all(getattr(record, other) == value for other, value in plain.items() if other != name)


def test_the_signature_and_errors_are_the_dataclass_ones() -> None:
    params = inspect.signature(Person).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert params["birth_name"].default is None
    assert params["active"].default is True
    assert params["last_name"].default is inspect.Parameter.empty
    with pytest.raises(TypeError, match="last_name"):
        Person(id="1", profile=Profile.STUDENT, first_name="x")  # type: ignore[call-arg]
    person = Person(id="1", profile=Profile.STUDENT, last_name="Le\u0301a", first_name="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        person.id = "2"  # type: ignore[misc]
    assert person.last_name == "L\u00e9a"
    assert dataclasses.replace(person, last_name="Lo\u0308ic").last_name == "L\u00f6ic"
    assert person.birth_date is None
    assert person.emails == ()


def test_an_iterator_in_a_tuple_field_is_not_consumed() -> None:
    items = iter(["a\u0301"])
    person = Person(id="1", profile=Profile.STUDENT, last_name="x", first_name="y", emails=items)  # type: ignore[arg-type]
    assert cast(object, person.emails) is items
    assert list(items) == ["a\u0301"]


def test_a_dataclass_subclass_normalises_its_own_fields() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Tagged(Membership):
        tag: str = ""

    tagged = Tagged(person_id="o\u0308", uai="0350001L", group_code="6A", tag="e\u0301")
    assert (tagged.person_id, tagged.tag) == ("\u00f6", "\u00e9")
    person = Person(id="1", profile=Profile.STUDENT, last_name="x", first_name="y", birth_date=dt.date(2010, 1, 2))
    assert person.birth_date == dt.date(2010, 1, 2)
