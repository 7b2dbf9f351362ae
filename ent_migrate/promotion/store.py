"""The promotion's rows in the state store: pupils and their journaled transitions.

A transition is written as ``intent`` and committed *before* its effect (a write to the target, a
notice file, a deletion on the primary side); the pupil's new state and ``done`` are committed
together after it. A run killed in between finds the intent on the next run and makes the effect
again, which is idempotent (deterministic op ids, files overwritten whole).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select, update

from ent_migrate.errors import EntMigrateError
from ent_migrate.promotion.states import State, allowed
from ent_migrate.state._sql import now, table

__all__ = ["PromotionStore", "Pupil"]


@dataclasses.dataclass(slots=True)
class Pupil:
    key: str
    school_year: int
    school_uai: str
    college_uai: str | None
    target_id: str | None
    state: State
    reason: str | None
    score: int | None
    opted_out: bool
    detail: dict[str, Any]


class PromotionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pupils = table("promotion_pupils")
        self._transitions = table("promotion_transitions")

    def pupils(self, school_year: int) -> dict[str, Pupil]:
        t = self._pupils
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.school_year == school_year).order_by(t.c.key)).all()
        return {
            r.key: Pupil(
                key=r.key,
                school_year=r.school_year,
                school_uai=r.school_uai,
                college_uai=r.college_uai,
                target_id=r.target_id,
                state=State(r.state),
                reason=r.reason,
                score=r.score,
                opted_out=bool(r.opted_out),
                detail=dict(r.detail or {}),
            )
            for r in rows
        }

    def detect(self, pupil: Pupil) -> None:
        """Insert a newly detected pupil (journaled as the transition None → detected)."""
        with self.engine.begin() as conn:
            conn.execute(
                self._pupils.insert().values(
                    key=pupil.key,
                    school_year=pupil.school_year,
                    school_uai=pupil.school_uai,
                    state=State.DETECTED,
                    opted_out=0,
                    detail={},
                    updated_at=now(),
                )
            )
            conn.execute(
                self._transitions.insert().values(
                    pupil_key=pupil.key,
                    from_state=None,
                    to_state=State.DETECTED,
                    status="done",
                    created_at=now(),
                    updated_at=now(),
                )
            )

    def pending(self, key: str) -> list[tuple[int, str]]:
        """Intents journaled for this pupil and never completed (a killed run): id and target state."""
        t = self._transitions
        with self.engine.connect() as conn:
            return [
                (int(i), str(s))
                for i, s in conn.execute(
                    select(t.c.id, t.c.to_state).where(t.c.pupil_key == key, t.c.status == "intent").order_by(t.c.id)
                ).all()
            ]

    def transition(
        self,
        pupil: Pupil,
        new: State,
        effect: Callable[[], None] | None = None,
        *,
        reason: str | None = None,
        **changes: Any,
    ) -> None:
        """Journal the intent, make *effect*, then commit the new state and the changed columns."""
        if not allowed(pupil.state, new):
            raise EntMigrateError(f"pupil {pupil.key.split('|')[0]}: no transition {pupil.state} → {new}")
        t = self._transitions
        with self.engine.begin() as conn:
            inserted = conn.execute(
                t.insert().values(
                    pupil_key=pupil.key,
                    from_state=pupil.state,
                    to_state=new,
                    status="intent",
                    reason=reason,
                    created_at=now(),
                    updated_at=now(),
                )
            ).inserted_primary_key
            assert inserted is not None
            tid = int(inserted[0])
        if effect is not None:
            effect()
        values: dict[str, Any] = {"state": new, "reason": reason, "updated_at": now(), **changes}
        if "detail" in values:
            values["detail"] = dict(values["detail"])
        with self.engine.begin() as conn:
            conn.execute(update(self._pupils).where(self._pupils.c.key == pupil.key).values(**values))
            # every intent of this pupil up to this one is settled by this commit (a re-made one included)
            conn.execute(
                update(t)
                .where(t.c.pupil_key == pupil.key, t.c.status == "intent", t.c.id <= tid)
                .values(status="done", updated_at=now())
            )
        pupil.state = new
        pupil.reason = reason
        for name, value in changes.items():
            setattr(pupil, "opted_out" if name == "opted_out" else name, bool(value) if name == "opted_out" else value)

    def note(self, pupil: Pupil, *, reason: str | None, **changes: Any) -> None:
        """Change the reason and columns of a pupil that stays in its state: nothing to journal, no effect."""
        values: dict[str, Any] = {"reason": reason, "updated_at": now(), **changes}
        with self.engine.begin() as conn:
            conn.execute(update(self._pupils).where(self._pupils.c.key == pupil.key).values(**values))
        pupil.reason = reason
        for name, value in changes.items():
            setattr(pupil, name, value)

    def set_opt_out(self, key: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(self._pupils).where(self._pupils.c.key == key).values(opted_out=1, updated_at=now())
            )
        return bool(done.rowcount)

    def counts(self, school_year: int) -> dict[str, dict[str, int]]:
        """Counts per school (UAI of the école) per state."""
        t = self._pupils
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for uai, state, n in conn.execute(
                select(t.c.school_uai, t.c.state, func.count())
                .where(t.c.school_year == school_year)
                .group_by(t.c.school_uai, t.c.state)
            ).all():
                out.setdefault(str(uai), {})[str(state)] = int(n)
        return out

    def intents_left(self) -> int:
        t = self._transitions
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(t.c.status == "intent")).scalar_one())
