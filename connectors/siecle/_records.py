"""The SIECLE readers' records: a Person (and a staff member's Functions) from the row the index pass spooled.

Split from :mod:`.connector` so the connector keeps the files, the index pass and the problems; these
functions only convert, and report a value they cannot read through *report* (the connector's
``_report``, which adds each problem once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from ent_migrate.connectors.siecle._index import Index, birth_name
from ent_migrate.connectors.siecle._values import (
    civility,
    discipline_carrier,
    parse_date,
    sex_civility,
    staff_profile,
)
from ent_migrate.model import Function, Person, Profile

__all__ = ["Report", "guardian", "pupil", "staff"]

#: the connector's ``_report(code, place, detail)``
Report = Callable[[str, str, str], None]


def _person(pid: str, profile: Profile, names: tuple[str, str, str], uai: str, **fields: Any) -> Person:
    """A person of the school *uai*; *names* are (NOM_DE_FAMILLE, NOM_USAGE, PRENOM): the usage name is
    the last name, the birth name is kept when it differs."""
    family, usage, first = names
    return Person(
        id=pid,
        profile=profile,
        last_name=usage or family,
        birth_name=birth_name(family, usage),
        first_name=first,
        structures=(uai,),
        **fields,
    )


def _date(text: str, place: str, iso: bool, field: str, report: Report) -> dt.date | None:
    if not text:
        return None
    value = parse_date(text, iso)
    if value is None:
        report("date.invalid", place, f"{field}: not {'yyyy-mm-dd' if iso else 'dd/mm/yyyy'}")
    return value


def pupil(row: tuple[Any, ...], index: Index, prefix: str, report: Report) -> Person:
    eleve_id, at, family, usage, first, birth_text, prenom2, prenom3, ine, sexe = row
    birth = parse_date(birth_text, False) if birth_text else None
    if not birth_text:
        report("record.missing-field", index.where(at), "pupil DATE_NAISS")
    if not sexe:
        report("record.incomplete", index.where(at), "pupil CODE_SEXE")
    elif sex_civility(sexe) is None:
        report("record.invalid", index.where(at), "pupil CODE_SEXE not a known code")
    if birth is None and birth_text:  # after the above, in the order problems were always added
        report("date.invalid", index.where(at), "DATE_NAISS: not dd/mm/yyyy")
    return _person(
        prefix + eleve_id,
        Profile.STUDENT,
        (family, usage, first),
        index.uai,
        birth_date=birth,
        ine=ine or None,
        other_first_names=tuple(filter(None, (prenom2, prenom3))),  # the non-empty ones
        civility=sex_civility(sexe or ""),
    )


def guardian(row: tuple[str, ...], uai: str, prefix: str) -> Person:
    """A guardian the index pass accepted (so it has its names)."""
    personne_id, family, usage, first, email, lc_civilite = row
    return _person(
        prefix + personne_id,
        Profile.GUARDIAN,
        (family, usage, first),
        uai,
        emails=(email,) if email else (),
        civility=civility(lc_civilite),
    )


def staff(row: tuple[Any, ...], uai: str, prefix: str, report: Report) -> Iterator[Person | Function]:
    individu_id, place, family, usage, first, codes, disciplines, birth_text, civilite = row
    person_id = prefix + individu_id
    yield _person(
        person_id,
        staff_profile(codes),
        (family, usage, first),
        uai,
        birth_date=_date(birth_text, place, True, "DATE_NAISSANCE", report),
        civility=civility(civilite),
    )
    carrier = discipline_carrier(codes)
    for code in dict.fromkeys(codes):
        if code == carrier and disciplines:
            for discipline in dict.fromkeys(disciplines):
                yield Function(person_id=person_id, uai=uai, code=code, discipline=discipline)
        else:
            yield Function(person_id=person_id, uai=uai, code=code)
