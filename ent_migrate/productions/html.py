"""HTML pages (pads, blogs, wikis, walls): sanitised with nh3, media bundled inside the page.

Media are inlined as ``data:`` URIs so every link resolves inside the package whatever the target's
layout (R10); a link to a workspace document the hand-back lacks is removed and reported by the caller.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterable

import nh3

__all__ = ["WORKSPACE_LINK", "bundle_media", "page", "sanitize"]

#: how entcore content points at a workspace file
WORKSPACE_LINK = re.compile(r"/workspace/document/([0-9a-fA-F-]{36})")
_SRC = re.compile(r"""(src|href)="(/workspace/document/[0-9a-fA-F-]{36})[^"]*\"""")
_SCHEMES = {"http", "https", "mailto", "data"}


def sanitize(fragment: str) -> str:
    """Keep the markup, drop scripts, event handlers and unknown schemes (nh3's allow-list)."""
    return nh3.clean(fragment, url_schemes=_SCHEMES, link_rel=None)


def bundle_media(fragment: str, resolve: Callable[[str], tuple[str, bytes] | None]) -> tuple[str, list[str]]:
    """Replace workspace links by ``data:`` URIs; returns the new fragment and the ids not resolved."""
    missing: list[str] = []

    def swap(match: re.Match[str]) -> str:
        doc_id = WORKSPACE_LINK.search(match.group(2))
        assert doc_id is not None  # _SRC only matches what WORKSPACE_LINK does
        found = resolve(doc_id.group(1))
        if found is None:
            missing.append(doc_id.group(1))
            return f'data-missing="{doc_id.group(1)}"'
        media_type, data = found
        return f'{match.group(1)}="data:{media_type};base64,{base64.b64encode(data).decode()}"'

    return _SRC.sub(swap, fragment), missing


def page(title: str, sections: Iterable[tuple[str, str]]) -> bytes:
    """A standalone UTF-8 HTML page: the title, then (heading, sanitised fragment) sections."""
    body = "".join(f"<section><h2>{html.escape(h)}</h2>{sanitize(f)}</section>" for h, f in sections)
    text = (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
    return text.encode()
