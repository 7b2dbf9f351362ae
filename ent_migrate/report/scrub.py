"""Keep personal data out of report files even when a caller lets some slip into free text.

Keys are pseudonymised by the writer; but ``reason`` strings, problem details and connector specs are
free text written by other stages, and one careless f-string would put a pupil's name in a file that is
mailed to a vendor. So the writer does not trust them:

- :func:`scrub_text` (problems, specs, thresholds) redacts what is personal *by shape*: e-mail addresses
  and INE-shaped identifiers. It leaves ``Eleve_0000.xml:120`` and rule names alone.
- :func:`scrub_reason` is stricter, since a reason is meant to be a small vocabulary (field names, rule
  names, error classes): it replaces the item's own key by its pseudonym, then keeps only tokens that
  look like that vocabulary — lower-case identifiers (``given_name``, ``max-deletions``, ``différent``),
  ``SomethingError`` class names, UAIs, pseudonyms ``p:…`` and numbers of at most four digits — and
  redacts every other token (capitalised words, which is how names arrive; long digit runs; ``@``).
  A name written all in lower case is indistinguishable from a field name and is *not* caught: the
  contract stays "no personal data in reasons"; this is the safety net, not the rule.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

__all__ = ["REDACTED", "scrub_reason", "scrub_text", "scrub_value"]

REDACTED = "[redacted]"

_EMAIL = re.compile(r"[^\s@<>\"',;()\[\]]+@[^\s@<>\"',;()\[\]]+")
# INE shapes: INE-RNIE and INE-BEA (10 characters + a key letter), INE-base (9 digits + 2 letters).
_INE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{9}[A-Za-z]{2}|[0-9A-Za-z]{10}[A-Za-z])(?![0-9A-Za-z])")
_TOKEN = re.compile(r"[^\s,;()\[\]{}=<>|\"']+")
_ERROR_CLASS = re.compile(r"[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning)")
_UAI = re.compile(r"[0-9]{7}[A-Z]")
_PSEUDONYM = re.compile(r"p:[0-9a-f]{4,64}")
_CLEAR_PART = re.compile(r"[0-9]{7}[A-Z](?:\$.*)?")  # a UAI or UAI$code: not personal, kept readable
_LONG_DIGITS = re.compile(r"[0-9]{5,}")
_IDENT_PUNCT = frozenset("_./:-")


def _ine_like(match: re.Match[str]) -> str:
    token = match.group(0)
    # A ten-letter lower-case word followed by a letter is an English word, not an INE: require digits.
    return REDACTED if sum(ch.isdigit() for ch in token) >= 5 else token


def scrub_text(text: str) -> str:
    """Redact e-mail addresses and INE-shaped identifiers; keep everything else."""
    return _INE.sub(_ine_like, _EMAIL.sub(REDACTED, text))


def scrub_value(value: Any) -> Any:
    """:func:`scrub_text` applied to every string inside JSON-like data (dict keys included)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(str(k)): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def _vocabulary(token: str) -> bool:
    if not any(ch.isalnum() for ch in token):
        return True  # punctuation alone ("-", "...", ":") carries nothing personal
    token = token.lstrip("+-")  # "-left", "+1": a sign does not make a word personal
    token = token.rstrip(".,:!?")  # "ValueError:", "given_name." are still vocabulary
    if not token:
        return True
    if _PSEUDONYM.fullmatch(token) or _ERROR_CLASS.fullmatch(token) or _UAI.fullmatch(token):
        return True
    if token.isdigit():
        return len(token) <= 4
    if _LONG_DIGITS.search(token):
        return False
    head = token[0]
    if not (head.isalpha() and head.islower()):
        return False
    return all((ch.isalpha() and ch.islower()) or ch.isdigit() or ch in _IDENT_PUNCT for ch in token)


def _pseudonymize_key(reason: str, key: str, pseudonymize: Callable[[str], str]) -> str:
    # Link keys join person keys with "|" (membership: person|UAI$code|subject): a reason naming one
    # end should name it by the same pseudonym as the person's own report line, so that they can be matched.
    # Longest first, ties by text: the same key and reason always give the same bytes.
    split = key.split("|")
    if not any(p in reason for p in split):  # the common case, cheaply: nothing to replace (the key holds them all)
        return reason
    parts = {p for p in split if len(p) >= 4 and not _CLEAR_PART.fullmatch(p)} - {key}
    for part in [key, *sorted(parts, key=lambda p: (-len(p), p))]:
        if part in reason:
            reason = reason.replace(part, pseudonymize(part))
    return reason


def scrub_reason(reason: str, key: str = "", pseudonymize: Callable[[str], str] | None = None) -> str:
    """A reason reduced to its vocabulary tokens; the item's own key becomes its pseudonym."""
    if not reason:
        return ""
    if key and pseudonymize is not None:
        reason = _pseudonymize_key(reason, key, pseudonymize)
    return _scrub_tokens(reason)


def _keep_or_redact(match: re.Match[str]) -> str:
    token = match.group(0)
    return token if token == REDACTED or _vocabulary(token) else REDACTED


@functools.lru_cache(maxsize=65536)
def _scrub_tokens(reason: str) -> str:
    # Cached: a run has millions of items but a few dozen distinct reasons.
    return _TOKEN.sub(_keep_or_redact, scrub_text(reason))
