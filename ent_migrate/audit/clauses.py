"""The clause file (``cctp.toml``): what the contract promised, with its dates and scope.

Checked like a mapping file: an unknown section or key, a wrong type or an unknown clause is refused
with the file and line named, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

from ent_migrate.errors import ConfigError
from ent_migrate.tomlwhere import parse_toml, where

__all__ = ["CLAUSES", "ClauseSpec", "load_clauses"]

#: R01–R19 with their short French titles (REVERSIBILITY.md §1).
CLAUSES: dict[str, str] = {
    "R01": "Manifeste",
    "R02": "Authenticité",
    "R03": "Délai de livraison",
    "R04": "Structures",
    "R05": "Comptes",
    "R06": "Identifiants de connexion",
    "R07": "Relations",
    "R08": "Messagerie",
    "R09": "Documents",
    "R10": "Blogs et sites",
    "R11": "Pads et wikis",
    "R12": "Agenda et contacts",
    "R13": "Droits et partages",
    "R14": "Documentation",
    "R15": "Encodages ouverts",
    "R16": "Périmètre promis",
    "R17": "Journaux et traces",
    "R18": "Transfert",
    "R19": "Restitution et destruction",
}

_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "contract": {
        "end": dt.date,
        "delivery": (dt.date, dt.datetime),
        "delivery_delay_days": int,
        "retrieval_window_days": int,
        "modules": list,
    },
    "clauses": {"promised": list},
    "reference": {"sources": list},
    "destruction": {"returned": dt.date, "pv": str, "pv_sha256": str, "destroyed": dt.date},
    "signature": {"key_file": str},
}


@dataclasses.dataclass(frozen=True)
class ClauseSpec:
    path: Path
    sha256: str
    promised: frozenset[str]
    contract_end: dt.date | None = None
    delivery: dt.date | None = None
    delivery_delay_days: int = 0
    retrieval_window_days: int = 30
    modules: tuple[str, ...] = ()
    reference_sources: tuple[str, ...] = ()
    returned: dt.date | None = None
    pv: Path | None = None
    pv_sha256: str | None = None
    destroyed: dt.date | None = None
    signing_key: Path | None = None


def _strings(value: list[Any], place: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{place}: must be a list of non-empty strings")
    return tuple(value)


def load_clauses(path: Path) -> ClauseSpec:
    """Read and check a clause file; relative paths in it are relative to the file."""
    import hashlib

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the clause file ({exc.strerror})") from None
    text, data = parse_toml(raw, str(path))
    for section, table in data.items():
        if section not in _SCHEMA:
            raise ConfigError(
                f"{where(str(path), text, section)}: unknown section [{section}] (known: {', '.join(_SCHEMA)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in table.items():
            place = where(str(path), text, section, key)
            if key not in _SCHEMA[section]:
                known = ", ".join(_SCHEMA[section])
                raise ConfigError(f"{place}: unknown key {key!r} in [{section}] (known: {known})")
            expected = _SCHEMA[section][key]
            # bool is an int in Python: a `true` where a number of days is expected is a mistake.
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
                raise ConfigError(f"{place}: [{section}] {key} must be a {names}")
            if expected is int and isinstance(value, int) and value < 0:
                raise ConfigError(f"{place}: [{section}] {key} must be zero or more")
    contract = data.get("contract", {})
    clauses = data.get("clauses", {})
    promised = _strings(clauses.get("promised", []), where(str(path), text, "clauses", "promised"))
    unknown = sorted(set(promised) - set(CLAUSES))
    if unknown:
        raise ConfigError(
            f"{where(str(path), text, 'clauses', 'promised')}: unknown clause(s) {', '.join(unknown)} "
            "(known: R01 to R19)"
        )
    destruction = data.get("destruction", {})
    base = path.parent

    def _path(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else base / p

    delivery = contract.get("delivery")
    if isinstance(delivery, dt.datetime):
        delivery = delivery.date()
    pv_sha = destruction.get("pv_sha256")
    if pv_sha is not None and not re.fullmatch(r"[0-9a-f]{64}", pv_sha):
        raise ConfigError(
            f"{where(str(path), text, 'destruction', 'pv_sha256')}: pv_sha256 must be 64 lowercase hex digits"
        )
    return ClauseSpec(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        promised=frozenset(promised),
        contract_end=contract.get("end"),
        delivery=delivery,
        delivery_delay_days=contract.get("delivery_delay_days", 0),
        retrieval_window_days=contract.get("retrieval_window_days", 30),
        modules=_strings(contract.get("modules", []), where(str(path), text, "contract", "modules")),
        reference_sources=_strings(
            data.get("reference", {}).get("sources", []), where(str(path), text, "reference", "sources")
        ),
        returned=destruction.get("returned"),
        pv=_path(destruction.get("pv")),
        pv_sha256=pv_sha,
        destroyed=destruction.get("destroyed"),
        signing_key=_path(data.get("signature", {}).get("key_file")),
    )
