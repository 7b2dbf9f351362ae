"""Issue 15: the two JSON decoders that take orjson's fast path must give exactly what json gives.

``state.crypto.json_loads`` must equal ``json.loads`` (value and type: 1 is not 1.0, an int past 64
bits stays an int, NaN and 1e400 are still read). The package reader's line decoder must equal its
strict json decoder (duplicate keys and NaN refused, with json's own error). The texts below are
built as text, not dumped from values, so that they hold duplicate keys, odd spacing, escapes,
long ints, strings that look like a key's end, and what orjson and json disagree on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.package.reader import _loads, _loads_line
from ent_migrate.state.crypto import json_loads

_ws = st.sampled_from(["", " ", "\n", "\t", " \r\n "])
_odd = st.sampled_from(
    [
        "NaN",
        "-Infinity",
        "1e400",
        "-1e400",
        "1e-400",
        "-0",
        "-0.0",
        "1.0",
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        '":"',
        '"\\":"',
    ]
)
_ints = st.integers(min_value=-(2**80), max_value=2**80).map(str)
_floats = st.floats().map(repr).filter(lambda t: t not in ("nan", "inf", "-inf"))
_strings = st.text(st.characters(exclude_categories=["Cs"]), max_size=8).map(
    lambda s: json.dumps(s, ensure_ascii=len(s) % 2 == 0)
)
_keys = st.sampled_from(['"a"', '"b"', '"a\\":"', '":b"', '"\\u0061"']) | _strings


def _object(pairs: list[tuple[str, str, str, str]]) -> str:
    return "{" + ",".join(f"{w1}{key}{w2}:{value}" for key, w1, w2, value in pairs) + "}"


_json = st.recursive(
    _ints | _floats | _strings | _odd | st.sampled_from(["true", "false", "null"]),
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.lists(st.tuples(_keys, _ws, _ws, inner), max_size=4).map(_object)
    ),
    max_leaves=12,
)


def _outcome(decode: Callable[[Any], Any], text: Any) -> tuple[str, str]:
    try:
        return "value", repr(decode(text))  # repr: 1 vs 1.0 vs True, -0.0, nan, key order
    except (ValueError, UnicodeDecodeError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


@settings(max_examples=600, deadline=None)
@given(_json, _ws)
def test_state_decoder_is_json(text: str, tail: str) -> None:
    text += tail
    assert _outcome(json_loads, text) == _outcome(json.loads, text)
    raw = text.encode("utf-8")
    assert _outcome(json_loads, raw) == _outcome(json.loads, raw)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(_keys, _ws, _ws, _json), max_size=6).map(_object))
def test_package_line_decoder_is_the_strict_decoder(text: str) -> None:
    raw = text.encode("utf-8") + b"\n"
    assert _outcome(_loads_line, raw) == _outcome(lambda r: _loads(r.decode("utf-8")), raw)


def test_the_disagreements_go_through_json() -> None:
    for text in ['{"a":1,"a":2}', '{"a" :1, "a":2}', '{"n":18446744073709551616}', '{"x":NaN}', '{"s":"\\ud800"}']:
        assert _outcome(_loads_line, text.encode() + b"\n") == _outcome(_loads, text)
        assert _outcome(json_loads, text) == _outcome(json.loads, text)
    assert _outcome(_loads_line, b'{"a":"\xff"}\n')[1].startswith("UnicodeDecodeError")
    assert json_loads('{"n":18446744073709551616}') == {"n": 2**64}
