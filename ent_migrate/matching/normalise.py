"""Name folding: the form two spellings of one name share.

SIECLE, ONDE, AAF and the vendors' directories spell one name in many ways: with or without accents,
in capitals, with hyphens or spaces in a compound name, with the particle apart or glued
("De La Fontaine", "de la Fontaine", "Delafontaine"). :func:`fold_name` maps all of them to one
ASCII form: accents stripped, ligatures expanded, case folded, punctuation and runs of spaces made
one space, and particles glued to the word that follows them, so "De La Fontaine" and
"Delafontaine" fold alike. :func:`name_tokens` gives the words of a folded name, for compound names
("Martin-Dupont" against "Martin").
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["PARTICLES", "compact", "fold_ascii", "fold_name", "name_tokens"]

#: Particles that may be written apart from or glued to the name that follows them.
PARTICLES = frozenset({"d", "da", "das", "de", "del", "della", "der", "des", "di", "do", "dos", "du", "la", "le"})
#: Letters NFKD does not decompose into ASCII.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "Oe", "æ": "ae", "Æ": "Ae", "ß": "ss", "ø": "o", "Ø": "o", "đ": "d"})
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_ascii(text: str) -> str:
    """Accents stripped and ligatures expanded, case kept, any other non-ASCII letter dropped:
    "Œuvré" → "Oeuvre"."""
    return _strip_accents(text).encode("ascii", "ignore").decode()


# Cached: blocking and scoring fold the same first and last names a million times per 100k people
# (issue 15's profile: 7 s), and names repeat a lot. Bounded, so a 1M-account run's memory stays flat.
@functools.lru_cache(maxsize=1 << 16)
def fold_name(text: str) -> str:
    """Accents, case, punctuation and spaces folded; particles glued to the next word.

    >>> fold_name("  De La FONTAINE ") == fold_name("Delafontaine") == "delafontaine"
    True
    >>> fold_name("Martin-Dupont"), fold_name("N'Diaye"), fold_name("Ségolène  Œuvray")
    ('martin dupont', 'n diaye', 'segolene oeuvray')
    """
    # _strip_accents inlined: this runs a million times per 100k people (blocking keys).
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = [w for w in _NOT_WORD.split(ascii_text) if w]
    out: list[str] = []
    pending = ""
    for index, word in enumerate(words):
        # A particle is glued forward only when a word follows it: "Le" alone stays a name.
        if word in PARTICLES and index + 1 < len(words):
            pending += word
            continue
        out.append(pending + word)
        pending = ""
    return " ".join(out)


def name_tokens(text: str) -> frozenset[str]:
    """The words of the folded name (a compound name has several)."""
    return frozenset(fold_name(text).split())


@functools.lru_cache(maxsize=1 << 16)
def compact(text: str) -> str:
    """The folded name without spaces: "Martin Dupont" and "Martin-Dupont" and "MARTINDUPONT" agree."""
    return fold_name(text).replace(" ", "")
