"""Runs and their stage checkpoints.

A run is one migration from a configured source to a configured target, keyed by their configured
names (``[source.NAME]``, ``[target.NAME]``), never by a path: a re-delivery under another file name
is the same source. A re-run finds the unfinished run and finishes it; once a run is done the next
command starts a new one. Each stage records a checkpoint (pending → running → done) with its counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, select, update

from ent_migrate.errors import ConfigError
from ent_migrate.outcomes import STAGES, RunStatus, Stage, StageStatus
from ent_migrate.state._sql import now, table, upsert

__all__ = ["RunInfo", "Runs"]

_MIN_PREFIX = 4


@dataclasses.dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    created_at: dt.datetime | None
    source: str  # the spec (connector and location)
    target: str
    source_name: str
    target_name: str
    status: RunStatus
    plan_revision: int
    applied_plan_digest: str | None
    report_digest: str | None
    verdict: str | None


class Runs:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._runs = table("runs")
        self._checkpoints = table("stage_checkpoints")

    # -- finding runs --------------------------------------------------------------------------
    def current(self, source_name: str, target_name: str) -> str | None:
        """The unfinished run from this source to this target, if any."""
        runs = self._runs
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs.c.id, runs.c.status)
                .where(runs.c.source_name == source_name, runs.c.target_name == target_name)
                .order_by(runs.c.created_at.desc())
                .limit(1)
            ).first()
        if row is None or row.status == RunStatus.DONE:
            return None
        return str(row.id)

    def latest(self) -> str | None:
        runs = self._runs
        with self.engine.connect() as conn:
            value = conn.execute(select(runs.c.id).order_by(runs.c.created_at.desc()).limit(1)).scalar()
        return str(value) if value is not None else None

    def resolve(self, run_id: str | None) -> str:
        """A full run id from a full id or a unique prefix (at least four characters); the latest run
        when None. Unknown, ambiguous or too short: a ConfigError saying how to list the runs."""
        if run_id is None:
            latest = self.latest()
            if latest is None:
                raise ConfigError("this state store holds no run yet: run `ent-migrate plan` first")
            return latest
        run_id = run_id.strip()
        if len(run_id) < _MIN_PREFIX:
            raise ConfigError(f"run id {run_id!r} is too short: give at least {_MIN_PREFIX} characters")
        runs = self._runs
        with self.engine.connect() as conn:
            query = select(runs.c.id).where(runs.c.id.like(f"{run_id}%")).limit(3)
            found = [str(v) for v in conn.execute(query).scalars()]
        if not found:
            raise ConfigError(f"no run {run_id!r} in this state store (`ent-migrate status` names the latest)")
        if len(found) > 1:
            raise ConfigError(f"run id {run_id!r} is ambiguous ({len(found)}+ runs start with it): give more of it")
        return found[0]

    def get(self, run_id: str) -> RunInfo:
        runs = self._runs
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise ConfigError(f"no run {run_id!r} in this state store")
        return RunInfo(
            id=row.id,
            created_at=row.created_at,
            source=row.source,
            target=row.target,
            source_name=row.source_name,
            target_name=row.target_name,
            status=RunStatus(row.status),
            plan_revision=int(row.plan_revision or 0),
            applied_plan_digest=row.applied_plan_digest,
            report_digest=row.report_digest,
            verdict=row.verdict,
        )

    # -- opening and closing -------------------------------------------------------------------
    def open(
        self, *, source_name: str, target_name: str, source_spec: str, target_spec: str, config_digest: str
    ) -> str:
        """Resume the unfinished run from this source to this target, or start a new one."""
        run_id = self.current(source_name, target_name)
        if run_id is not None:
            # The spec may have changed (a new delivery): the run follows the configuration.
            with self.engine.begin() as conn:
                conn.execute(
                    update(self._runs)
                    .where(self._runs.c.id == run_id)
                    .values(source=source_spec, target=target_spec, updated_at=now())
                )
            return run_id
        run_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                self._runs.insert().values(
                    id=run_id,
                    created_at=now(),
                    updated_at=now(),
                    source=source_spec,
                    target=target_spec,
                    source_name=source_name,
                    target_name=target_name,
                    status=RunStatus.PLANNED,
                    config_digest=config_digest,
                    plan_revision=0,
                )
            )
            conn.execute(
                self._checkpoints.insert(),
                [
                    {"run_id": run_id, "stage": s, "status": StageStatus.PENDING, "counts": {}, "updated_at": now()}
                    for s in STAGES
                ],
            )
        return run_id

    def set_status(self, run_id: str, status: RunStatus) -> None:
        self._set(run_id, status=status)

    def set_verdict(self, run_id: str, verdict: str) -> None:
        self._set(run_id, verdict=verdict)

    def set_report_digest(self, run_id: str, digest: str) -> None:
        self._set(run_id, report_digest=digest)

    def next_plan_revision(self, run_id: str) -> int:
        """Count one more plan of this run: a re-plan is a new revision, never an overwrite."""
        with self.engine.begin() as conn:
            conn.execute(
                update(self._runs)
                .where(self._runs.c.id == run_id)
                .values(plan_revision=self._runs.c.plan_revision + 1, updated_at=now())
            )
            value = conn.execute(select(self._runs.c.plan_revision).where(self._runs.c.id == run_id)).scalar()
        return int(value or 0)

    def set_applied_plan(self, run_id: str, digest: str) -> None:
        self._set(run_id, applied_plan_digest=digest)

    def _set(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(self._runs).where(self._runs.c.id == run_id).values(updated_at=now(), **values))

    # -- stage checkpoints ---------------------------------------------------------------------
    def stage_status(self, run_id: str, stage: Stage) -> StageStatus:
        cp = self._checkpoints
        with self.engine.connect() as conn:
            value = conn.execute(select(cp.c.status).where(cp.c.run_id == run_id, cp.c.stage == stage)).scalar()
        return StageStatus(value) if value else StageStatus.PENDING

    def stage_done(self, run_id: str, stage: Stage) -> bool:
        return self.stage_status(run_id, stage) is StageStatus.DONE

    def stage_counts(self, run_id: str, stage: Stage) -> dict[str, Any]:
        cp = self._checkpoints
        with self.engine.connect() as conn:
            value = conn.execute(select(cp.c.counts).where(cp.c.run_id == run_id, cp.c.stage == stage)).scalar()
        return dict(value or {})

    def set_stage(self, run_id: str, stage: Stage, status: StageStatus, counts: Mapping[str, Any] | None) -> None:
        row: dict[str, Any] = {
            "run_id": run_id,
            "stage": stage,
            "status": status,
            "updated_at": now(),
            "counts": dict(counts) if counts is not None else {},
        }
        with self.engine.begin() as conn:
            upsert(conn, self._checkpoints, [row], ["run_id", "stage"], ["status", "updated_at", "counts"])

    def reset_from(self, run_id: str, stage: Stage) -> None:
        """Mark *stage* and every later stage pending again (their inputs changed)."""
        later = STAGES[STAGES.index(stage) :]
        cp = self._checkpoints
        with self.engine.begin() as conn:
            conn.execute(
                update(cp)
                .where(cp.c.run_id == run_id, cp.c.stage.in_(later))
                .values(status=StageStatus.PENDING, updated_at=now())
            )

    def stages(self, run_id: str) -> dict[str, dict[str, Any]]:
        cp = self._checkpoints
        with self.engine.connect() as conn:
            found = {
                r.stage: {"status": r.status, "counts": r.counts or {}}
                for r in conn.execute(select(cp).where(cp.c.run_id == run_id))
            }
        return {s: found.get(s, {"status": StageStatus.PENDING, "counts": {}}) for s in STAGES}

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self._runs)).scalar() or 0)
