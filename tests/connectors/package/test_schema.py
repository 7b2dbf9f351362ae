"""The reader's fast schema pre-check never accepts what jsonschema (the judge) rejects."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.package.layout import encode_line, record_schema
from ent_migrate.connectors.package.reader import _quick
from ent_migrate.model import RecordKind
from tests.connectors.package.helpers import district

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=5,
)
_lines = [json.loads(encode_line(record)) for record, _ in district()]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_lines), st.text(max_size=12) | st.sampled_from(["size", "sha256", "kind", "flags"]), _json)
def test_quick_check_is_sound(line: dict[str, Any], field: str, value: Any) -> None:
    kind = RecordKind(line["kind"])
    data = {**line, field: value}
    if _quick(kind)(data):
        jsonschema.validate(data, record_schema(kind))  # raises if the fast path let an invalid line through


def test_quick_check_accepts_what_the_writer_writes() -> None:
    for line in _lines:
        assert _quick(RecordKind(line["kind"]))(line)
