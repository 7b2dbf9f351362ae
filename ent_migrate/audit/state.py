"""The audits recorded in the state store (table ``audits``, migration 0005): the latest one's R19
destruction deadline is what ``ent-migrate status`` shows until the destruction PV is in."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ent_migrate.audit.run import AuditResult
from ent_migrate.report.writers import SUMS_NAME
from ent_migrate.state.models import Audit

__all__ = ["latest_audit", "record_audit"]


def record_audit(engine: Engine, result: AuditResult, folder: Path) -> None:
    sums = (folder / SUMS_NAME).read_bytes()
    with Session(engine) as session, session.begin():
        session.add(
            Audit(
                clause_file_sha256=result.spec.sha256,
                report_path=str(folder),
                report_digest=hashlib.sha256(sums).hexdigest(),
                unmet=",".join(result.unmet),
                destruction_deadline=result.deadline.isoformat() if result.deadline else None,
                destroyed=result.spec.destroyed.isoformat() if result.spec.destroyed else None,
                pv_sha256=next((c.evidence.get("pv_sha256") for c in result.clauses if c.clause == "R19"), None),
            )
        )


def latest_audit(engine: Engine, today: dt.date | None = None) -> dict[str, Any] | None:
    """The latest audit, with ``days_left`` to the destruction deadline (negative once passed)."""
    with Session(engine) as session:
        row = session.scalars(select(Audit).order_by(Audit.id.desc()).limit(1)).first()
        if row is None:
            return None
        today = today or dt.datetime.now(dt.UTC).date()
        deadline = dt.date.fromisoformat(row.destruction_deadline) if row.destruction_deadline else None
        return {
            "audited_at": row.created_at.isoformat(),
            "report_digest": row.report_digest,
            "unmet": [c for c in row.unmet.split(",") if c],
            "destruction_deadline": row.destruction_deadline,
            "destroyed": row.destroyed,
            "pv_sha256": row.pv_sha256,
            "days_left": (deadline - today).days if deadline and not row.destroyed else None,
        }
