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
        reports = self._reports
        with self.engine.connect() as conn:
            row = conn.execute(
                select(reports)
                .where(reports.c.run_id == run_id, reports.c.kind == kind)
                .order_by(reports.c.id.desc())
                .limit(1)
            ).first()
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
