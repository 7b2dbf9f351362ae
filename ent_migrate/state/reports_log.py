"""Which reports were written for a run: kind, revision, folder and digest (the evidence trail)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, select

from ent_migrate.state._sql import now, table

__all__ = ["ReportEntry", "ReportsLog"]


@dataclasses.dataclass(frozen=True, slots=True)
class ReportEntry:
    kind: str
    revision: int
    path: str
    digest: str
    summary: dict[str, Any]


class ReportsLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reports = table("reports")

    def add(self, run_id: str, kind: str, revision: int, path: str, digest: str, summary: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self._reports.insert().values(
                    run_id=run_id,
                    kind=kind,
                    revision=revision,
                    created_at=now(),
                    path=path,
                    digest=digest,
                    summary=dict(summary),
                )
            )

    def latest(self, run_id: str, kind: str) -> ReportEntry | None:
        return self._last(run_id, kind)

    def by_digest(self, run_id: str, kind: str, digest: str) -> ReportEntry | None:
        """The last *kind* report of the run with that digest (the plan report an apply executes)."""
        return self._last(run_id, kind, digest)

    def _last(self, run_id: str, kind: str, digest: str | None = None) -> ReportEntry | None:
        reports = self._reports
        query = select(reports).where(reports.c.run_id == run_id, reports.c.kind == kind)
        if digest is not None:
            query = query.where(reports.c.digest == digest)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(reports.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return ReportEntry(row.kind, int(row.revision), row.path, row.digest, dict(row.summary or {}))

    def count(self, run_id: str, kind: str) -> int:
        reports = self._reports
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).where(reports.c.run_id == run_id, reports.c.kind == kind)).scalar()
                or 0
            )
