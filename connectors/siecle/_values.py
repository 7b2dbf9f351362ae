"""Value conversions for SIECLE / STS: dates, civilities, kinship codes, legal-responsibility levels."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from ent_migrate.model import Profile

__all__ = [
    "CIVILITY_CODES",
    "LEVEL_MEFS",
    "OLD_TO_NEW_KINSHIP",
    "SEX_CODES",
    "civility",
    "discipline_carrier",
    "kinship",
    "legal_level",
    "level_of_mef",
    "parse_date",
    "sex_civility",
    "staff_profile",
]

_FR_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

#: BCN N_LIEN_ELEVE_RESPONSABLE: codes before SIECLE's 2018 change → the codes used since
OLD_TO_NEW_KINSHIP = {"1": "20", "2": "10", "3": "50", "4": "39", "5": "51", "6": "90", "7": "70"}


#: collège levels → a MEF code of that level (général, one language); the level is read back from
#: the MEF's first three digits (100 6e, 101 5e, 102 4e, 103 3e)
LEVEL_MEFS = {"6e": "10010012110", "5e": "10110001110", "4e": "10210001110", "3e": "10310019110"}
_MEF_LEVELS = {mef[:3]: level for level, mef in LEVEL_MEFS.items()}


def level_of_mef(mef: str) -> str | None:
    """The collège level of a MEF code, or None (lycée and other MEFs are not mapped)."""
    return _MEF_LEVELS.get(mef.strip()[:3]) if len(mef.strip()) == 11 else None


#: BEE ``CODE_SEXE`` (1 masculin, 2 féminin) → civility
SEX_CODES = {"1": "M.", "2": "Mme"}
#: STS ``CIVILITE`` (1 M., 2 Mme, 3 Mlle) → civility
CIVILITY_CODES = {"1": "M.", "2": "Mme", "3": "Mme"}
_CIVILITY_WORDS = {"m": "M.", "monsieur": "M.", "mme": "Mme", "mlle": "Mme", "madame": "Mme", "mademoiselle": "Mme"}


def sex_civility(code: str) -> str | None:
    """``M.``/``Mme`` from a BEE ``CODE_SEXE``."""
    return SEX_CODES.get(code.strip())


def parse_date(text: str, iso: bool) -> dt.date | None:
    """``dd/mm/yyyy`` (BEE, *iso* False) or ``yyyy-mm-dd`` (STS, *iso* True); None if it is neither
    (the caller reports ``date.invalid``). An STS date in BEE form is accepted too: real exports mix."""
    match = _ISO_DATE.match(text) if iso else _FR_DATE.match(text)
    try:
        if match and iso:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match:
            return dt.date(int(match[3]), int(match[2]), int(match[1]))
        other = _FR_DATE.match(text) if iso else None
        if other:
            return dt.date(int(other[3]), int(other[2]), int(other[1]))
    except ValueError:
        return None
    return None


def civility(text: str) -> str | None:
    """``M.``/``Mme`` from a BEE ``LC_CIVILITE`` (M., MME, Mme) or an STS ``CIVILITE`` code (1-3)."""
    folded = text.strip().rstrip(".").casefold()
    return CIVILITY_CODES.get(folded) or _CIVILITY_WORDS.get(folded)


def kinship(code: str) -> str | None:
    """A ``CODE_PARENTE`` in the new (two-digit) coding; old one-digit codes are translated."""
    code = code.strip()
    if not code:
        return None
    return OLD_TO_NEW_KINSHIP.get(code, code)


def legal_level(niveau: str, resp_legal: str) -> int | None:
    """The model's level (1 représentant légal, 2 personne en charge, 3 contact, 0 none) from either
    generation: ``NIVEAU_RESPONSABILITE`` (since 2018) wins; else ``RESP_LEGAL`` 1/2 → 1, 0 → 0."""
    niveau, resp_legal = niveau.strip(), resp_legal.strip()
    if niveau.isdigit():
        return int(niveau)
    if resp_legal in {"1", "2"}:
        return 1
    if resp_legal == "0":
        return 0
    return None


def discipline_carrier(codes: Sequence[str]) -> str | None:
    """Which of a staff member's FONCTION codes carries their disciplines: ENS, or the only function."""
    return "ENS" if "ENS" in codes else (codes[0] if len(set(codes)) == 1 else None)


def staff_profile(codes: Sequence[str]) -> Profile:
    """An STS INDIVIDU is a teacher iff one of its functions is ENS."""
    return Profile.TEACHER if "ENS" in codes else Profile.STAFF
