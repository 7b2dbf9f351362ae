"""Mind maps as FreeMind ``.mm`` and OPML (both XML, written with lxml so escaping is never by hand)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

__all__ = ["to_freemind", "to_opml"]


def _children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in node.get("children") or () if isinstance(c, Mapping)]


def _tree(parent: etree._Element, node: Mapping[str, Any], tag: str, label: str) -> None:
    """*node* and its children as nested *tag* elements, the title in the *label* attribute."""
    element = etree.SubElement(parent, tag, {label: str(node.get("title") or "")})
    for child in _children(node):
        _tree(element, child, tag, label)


def to_freemind(root: Mapping[str, Any]) -> bytes:
    """``{"title", "children": [...]}`` -> FreeMind 1.0 ``<map><node TEXT=...>``."""
    doc = etree.Element("map", version="1.0.1")
    _tree(doc, root, "node", "TEXT")
    return etree.tostring(doc, encoding="utf-8", xml_declaration=False)


def to_opml(root: Mapping[str, Any]) -> bytes:
    """The same tree as OPML 2.0 outlines."""
    doc = etree.Element("opml", version="2.0")
    head = etree.SubElement(doc, "head")
    etree.SubElement(head, "title").text = str(root.get("title") or "")
    _tree(etree.SubElement(doc, "body"), root, "outline", "text")
    return etree.tostring(doc, encoding="utf-8", xml_declaration=True)
