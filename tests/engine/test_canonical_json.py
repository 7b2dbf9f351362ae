"""Issue 15: the canonical bytes are written by orjson for speed; they must stay byte for byte what the
stdlib wrote (sorted keys, compact, UTF-8 unescaped), or every stored fingerprint would change."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.model import canonical_json, fingerprint_of
from ent_migrate.state.crypto import json_dumps, json_loads


def _reference(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# Every JSON type a canonical dict holds (no floats: the model refuses them), text over the whole
# of Unicode but lone surrogates (control characters, U+2028, U+007F, astral planes included), and
# ints past 64 bits (orjson refuses them: the fallback must give json's bytes).
_text = st.text(st.characters(exclude_categories=["Cs"]))
_leaf = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | _text
_json = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_text, _json, max_size=8))
def test_canonical_bytes_are_the_stdlib_bytes(data: dict[str, Any]) -> None:
    assert canonical_json(data) == _reference(data)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text, _json, max_size=8))
def test_state_json_round_trips(data: dict[str, Any]) -> None:
    assert json_loads(json_dumps(data)) == data
    assert json_loads(json.dumps(data)) == data  # a store written before issue 15 reads the same


def test_big_int_and_refused_values_behave_as_before() -> None:
    assert canonical_json({"n": 2**80}) == _reference({"n": 2**80})
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: json's error, as before
        canonical_json({"s": "\ud800"})
    with pytest.raises(TypeError):  # a non-JSON value is refused, not serialised by orjson
        canonical_json({"d": dt.date(2024, 1, 1)})


def test_fingerprint_of_uses_the_same_bytes() -> None:
    import hashlib

    data = {"kind": "person", "last_name": "Ève\u2028", "n": 3, "tags": ["b", "a"]}
    assert fingerprint_of(data) == hashlib.sha256(_reference(data)).hexdigest()


# Whoever swaps the state decoder for a faster one (orjson reads an int past 64 bits as a float):
# what the store reads back must stay what json reads.
@pytest.mark.parametrize(
    "text",
    ["[18446744073709551616]", "[-9223372036854775809]", "[1e400]", "[NaN]", '{"a":1,"a":2}', '["\\ud800"]', "[1.0]"],
)
def test_state_json_edge_cases_read_as_json_reads_them(text: str) -> None:
    assert repr(json_loads(text)) == repr(json.loads(text))
