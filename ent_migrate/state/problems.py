"""Input problems: every problem met while reading a run's source, one row per occurrence.

What could not be read is counted and listed in the reports, and an error-level problem keeps verify
from certifying the run (the verdict is then "incomplete source")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, delete, func, select

from ent_migrate.problems import Occurrence, Severity
from ent_migrate.state._sql import scan, table

__all__ = ["InputProblems"]


class InputProblems:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._problems = table("input_problems")

    def clear(self, run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self._problems).where(self._problems.c.run_id == run_id))

    def add(self, run_id: str, occurrences: Sequence[Occurrence]) -> None:
        if not occurrences:
            return
        with self.engine.begin() as conn:
            conn.execute(
                self._problems.insert(),
                [
                    {"run_id": run_id, "code": o.code, "severity": o.severity, "location": o.where, "detail": o.detail}
                    for o in occurrences
                ],
            )

    def counts(self, run_id: str) -> dict[tuple[str, str], int]:
        """(code, severity) → occurrences."""
        problems = self._problems
        with self.engine.connect() as conn:
            return {
                (r.code, r.severity): int(r.n)
                for r in conn.execute(
                    select(problems.c.code, problems.c.severity, func.count().label("n"))
                    .where(problems.c.run_id == run_id)
                    .group_by(problems.c.code, problems.c.severity)
                )
            }

    def errors(self, run_id: str) -> int:
        problems = self._problems
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(problems.c.run_id == run_id, problems.c.severity == Severity.ERROR)
                ).scalar()
                or 0
            )

    def scan(self, run_id: str) -> Iterator[list[Occurrence]]:
        problems = self._problems
        query = select(
            problems.c.id, problems.c.code, problems.c.severity, problems.c.location, problems.c.detail
        ).where(problems.c.run_id == run_id)
        for rows in scan(self.engine, query, problems.c.id):
            yield [Occurrence(r.code, Severity(r.severity), r.location, r.detail) for r in rows]
