"""The flat walk over ``attributes`` (the reader's fast path) reads exactly what the element-by-element
reading does, whatever the shape of the request: odd shapes fall back to the exact reading."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from ent_migrate.connectors.aaf.parse import _attributes_exact, _attributes_flat

_TAGS = st.sampled_from(["attr", "value", "other"])
_TEXT = st.sampled_from(["", "a", "b$c", "é"])
_NAME = st.sampled_from([None, "", "sn", "givenName", "sn"])

#: (tag, name attribute or None, text, children): what ``_TREES`` draws
_Tree = tuple[str, str | None, str, tuple["_Tree", ...]]


def _xml(tree: _Tree) -> str:
    tag, name, text, children = tree
    attribute = f' name="{name}"' if name is not None else ""
    return f"<{tag}{attribute}>{text}{''.join(_xml(c) for c in children)}</{tag}>"


_TREES = st.recursive(
    st.tuples(_TAGS, _NAME, _TEXT, st.just(())),
    lambda inner: st.tuples(_TAGS, _NAME, _TEXT, st.lists(inner, max_size=4).map(tuple)),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.lists(_TREES, max_size=5))
def test_flat_walk_agrees_with_the_exact_reading(children: list[_Tree]) -> None:
    part = etree.fromstring(f"<attributes>{''.join(_xml(c) for c in children)}</attributes>")
    exact: dict[str, list[str]] = {"kept": ["x"]}
    _attributes_exact(part, exact)
    flat: dict[str, list[str]] = {"kept": ["x"]}
    if _attributes_flat(part, flat):
        assert flat == exact
    else:
        assert flat == {"kept": ["x"]}  # untouched: the caller reads it the exact way


def test_regular_shape_takes_the_flat_walk() -> None:
    part = etree.fromstring(
        '<attributes><attr name="sn"><value>A</value><value/></attr><attr name="mail"><value/></attr>'
        '<attr name="x"/><attr><value>lost</value></attr></attributes>'
    )
    attrs: dict[str, list[str]] = {}
    assert _attributes_flat(part, attrs)
    assert attrs == {"sn": ["A"], "mail": [], "x": []}


def test_odd_shapes_fall_back() -> None:
    for xml in (
        '<attributes><other name="sn"><value>A</value></other></attributes>',  # a named non-attr child
        '<attributes><value>A</value><attr name="sn"><attr name="g"><value>B</value></attr></attr></attributes>',
        '<attributes><attr name="sn"><value>A<b>C</b></value></attr></attributes>',  # nested element in a value
        '<attributes><attr name="sn"><x><value>A</value></x></attr></attributes>',
        '<attributes><attr name="sn"><value>A<value>B</value></value></attr></attributes>',  # value in a value
    ):
        attrs: dict[str, list[str]] = {}
        assert not _attributes_flat(etree.fromstring(xml), attrs)
        assert attrs == {}
