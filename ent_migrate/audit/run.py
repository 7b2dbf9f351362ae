"""Run an audit: open the configured sources, read them once, check every clause, hash every input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ent_migrate import __version__
from ent_migrate.audit.checks_delivery import delivery_checks, destruction_deadline
from ent_migrate.audit.checks_records import record_checks
from ent_migrate.audit.clauses import CLAUSES, ClauseSpec
from ent_migrate.audit.collect import Facts, collect
from ent_migrate.audit.credentials import CredentialScan, scan_tree
from ent_migrate.audit.result import ClauseResult, Verdict
from ent_migrate.config import Config
from ent_migrate.contract import Connector, Role
from ent_migrate.errors import ConfigError
from ent_migrate.registry import open_connector, parse_spec

__all__ = ["AuditResult", "audit", "hash_tree", "run_audit"]


@dataclasses.dataclass
class AuditResult:
    clauses: list[ClauseResult]
    facts: Facts
    inputs: list[dict[str, Any]]
    spec: ClauseSpec
    key_id: str
    audited_at: str
    deadline: dt.date | None

    @property
    def unmet(self) -> list[str]:
        return [c.clause for c in self.clauses if not c.met]

    def to_dict(self) -> dict[str, Any]:
        verdicts: dict[str, int] = {}
        for c in self.clauses:
            verdicts[str(c.verdict)] = verdicts.get(str(c.verdict), 0) + 1
        return {
            "kind": "audit",
            "tool": f"ent-migrate {__version__}",
            "audited_at": self.audited_at,
            "pseudonym_key_id": self.key_id,
            "clause_file_sha256": self.spec.sha256,
            "promised": sorted(self.spec.promised),
            "unmet": self.unmet,
            "verdicts": dict(sorted(verdicts.items())),
            "destruction_deadline": self.deadline.isoformat() if self.deadline else None,
            "sources": [
                {
                    "name": s.name,
                    "connector": s.connector,
                    "reference": s.reference,
                    "error": s.error,
                    "problems": s.problems,
                }
                for s in self.facts.sources
            ],
            "inputs": self.inputs,
            "clauses": [c.to_dict() for c in self.clauses],
        }


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def hash_tree(root: Path, label: str, name_of: Callable[[str], str] = str) -> Iterator[dict[str, Any]]:
    """``{path, sha256, size}`` of a file, or of every file under a folder (sorted, symlinks not followed).

    *name_of* maps a path relative to a folder: a hand-back's file names can hold a person's name
    (``Documents/<title>_<id>``, mail folders), so the audit passes the pseudonymizer.
    """
    if root.is_file():
        yield {"path": label, "sha256": _sha256(root), "size": root.stat().st_size}
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            yield {"path": f"{label}/{name_of(rel)}", "sha256": _sha256(path), "size": path.stat().st_size}


def audit(
    sources: list[tuple[str, Connector, bool]],
    spec: ClauseSpec,
    pseudo: Callable[[str], str],
    *,
    key_id: str = "",
    inputs: list[dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
    credentials: CredentialScan | None = None,
) -> AuditResult:
    """Check every clause over already-open *sources* ``(name, connector, is_reference)``."""
    now = now or dt.datetime.now(dt.UTC)
    facts = collect(sources, credentials)
    by_clause = {r.clause: r for r in record_checks(facts, spec, pseudo)}
    by_clause.update(delivery_checks(facts, spec, now.date(), pseudo))
    for broken in (s.name for s in facts.sources if s.error and not s.reference):
        # A source that could not be read through makes every record clause at best partial.
        for clause in ("R04", "R05", "R07", "R08", "R09"):
            r = by_clause[clause]
            if r.verdict is Verdict.CONFORME:
                r.verdict = Verdict.PARTIEL
                r.why += f" Source « {broken} » illisible en partie."
    clauses = [by_clause[c] for c in CLAUSES]
    extra = [
        {"path": pseudo(inp.path), "sha256": inp.sha256, "size": inp.size}
        for inv in facts.inventories
        for inp in inv.inputs
    ]
    return AuditResult(
        clauses=clauses,
        facts=facts,
        inputs=(inputs or []) + extra,
        spec=spec,
        key_id=key_id,
        audited_at=now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        deadline=destruction_deadline(spec),
    )


def _location_path(spec: str) -> Path | None:
    _name, location = parse_spec(spec)
    if not location or "://" in location:
        return None
    path = Path(location)
    return path if path.exists() else None


def run_audit(config: Config, spec: ClauseSpec, pseudo: Callable[[str], str], key_id: str) -> AuditResult:
    """Open every ``[source.*]`` of *config* (those in ``[reference] sources`` as the académie reference)."""
    names = list(config.section("source"))
    if not names:
        raise ConfigError(f"{config.where}: no [source.NAME] section: nothing to audit")
    unknown = sorted(set(spec.reference_sources) - set(names))
    if unknown:
        raise ConfigError(
            f"{spec.path}: [reference] sources names no [source.*] of {config.where}: {', '.join(unknown)}"
        )
    inputs: list[dict[str, Any]] = [
        {"path": f"clauses/{spec.path.name}", "sha256": spec.sha256, "size": spec.path.stat().st_size}
    ]
    if config.path is not None:
        inputs.extend(hash_tree(config.path, f"config/{config.path.name}"))
    if spec.pv is not None and spec.pv.is_file():
        inputs.extend(hash_tree(spec.pv, f"pv/{spec.pv.name}"))
    opened: list[tuple[str, Connector, bool]] = []
    credentials = CredentialScan()
    try:
        for name in names:
            _n, connector_spec, options, where = config.endpoint("source", name)
            location = _location_path(connector_spec)
            if location is not None:
                inputs.extend(hash_tree(location, f"source/{name}", pseudo))
                if name not in spec.reference_sources:
                    scan_tree(location, f"source/{name}", credentials, pseudo)
            opened.append(
                (
                    name,
                    open_connector(connector_spec, options, where=where, role=Role.SOURCE),
                    name in spec.reference_sources,
                )
            )
        return audit(opened, spec, pseudo, key_id=key_id, inputs=inputs, credentials=credentials)
    finally:
        for _name, connector, _ref in opened:
            connector.close()
