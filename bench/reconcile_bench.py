"""Issue 12: matching (blocking + scoring) of three sources against an existing target, next to a bare
dictionary join by INE of the same records, in the same run (``python -m bench reconcile [SIZES]``).

The district comes from the generator; the sources are derived from its people: SIECLE with INE and
names as given, AAF in capitals with accents stripped half of the time, ONDE without INE; the target
holds every other person. This measures the matching core (``Correlator``); the pipeline stage keeps
its index in the state store instead (``identity_blocks``), which this bench does not measure yet.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from ent_migrate.fixtures.generator import generate
from ent_migrate.matching import Correlator, PersonFacts

__all__ = ["bare_ine_join", "our_correlate"]


def _strip(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()


def _people(accounts: int) -> Iterator[PersonFacts]:
    for batch in generate(accounts, 1, content=False):
        for p in batch.people:
            yield PersonFacts(
                p.id,
                str(p.profile),
                p.last_name,
                p.first_name,
                p.birth_name,
                p.birth_date,
                p.ine,
                structures=p.structures,
            )


def _sources(accounts: int) -> Iterator[tuple[str, PersonFacts]]:
    for n, f in enumerate(_people(accounts)):
        if n % 2 == 0:
            yield "target", f
        yield (
            "siecle",
            PersonFacts(
                "s-" + f.key,
                f.profile,
                f.last_name,
                f.first_name,
                f.birth_name,
                f.birth_date,
                f.ine,
                structures=f.structures,
            ),
        )
        last, first = (_strip(f.last_name), _strip(f.first_name)) if n % 2 else (f.last_name, f.first_name)
        yield (
            "aaf",
            PersonFacts("a-" + f.key, f.profile, last, first, None, f.birth_date, f.ine, structures=f.structures),
        )
        if f.profile == "student" and n % 3 == 0:
            yield (
                "onde",
                PersonFacts(
                    "o-" + f.key,
                    f.profile,
                    f.last_name,
                    f.first_name,
                    None,
                    f.birth_date,
                    None,
                    structures=f.structures,
                ),
            )


def bare_ine_join(accounts: int) -> int:
    """The raw limit: a dict by INE, one lookup per record."""
    by_ine: dict[str, str] = {}
    count = 0
    for _, f in _sources(accounts):
        count += 1
        if f.ine:
            by_ine.setdefault(f.ine, f.key)
    return count


def our_correlate(accounts: int) -> int:
    correlator = Correlator()
    count = 0
    for _, f in _sources(accounts):
        count += 1
        result = correlator.correlate(f)
        if result.decision != "match":
            correlator.add(f)
    return count
