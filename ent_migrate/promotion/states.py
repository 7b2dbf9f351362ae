"""The per-pupil state machine of the cycle-3 promotion.

``detected → matched | unmatched → notified → (opted_out) → exported → imported → verified →
primary_frozen → primary_deleted``. An unmatched pupil may be matched on a later run (a late INE); a
pupil with no target collège (private, out of the project) goes exported → primary_frozen: the family
gets its zip and the primary account is deleted on schedule. An opted-out pupil's work never moves.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ALLOWED", "ORDER", "State", "allowed"]


class State(StrEnum):
    DETECTED = "detected"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    NOTIFIED = "notified"
    OPTED_OUT = "opted_out"
    EXPORTED = "exported"
    IMPORTED = "imported"
    VERIFIED = "verified"
    PRIMARY_FROZEN = "primary_frozen"
    PRIMARY_DELETED = "primary_deleted"


ORDER: tuple[State, ...] = tuple(State)

ALLOWED: dict[State, frozenset[State]] = {
    State.DETECTED: frozenset({State.MATCHED, State.UNMATCHED}),
    State.UNMATCHED: frozenset({State.MATCHED, State.PRIMARY_FROZEN}),
    # matched → matched: an appeal re-targets the pupil to another collège before it is imported
    State.MATCHED: frozenset({State.NOTIFIED, State.MATCHED, State.UNMATCHED}),
    State.NOTIFIED: frozenset({State.OPTED_OUT, State.EXPORTED, State.MATCHED}),
    State.OPTED_OUT: frozenset({State.PRIMARY_FROZEN}),
    State.EXPORTED: frozenset({State.IMPORTED, State.PRIMARY_FROZEN, State.MATCHED}),
    State.IMPORTED: frozenset({State.VERIFIED}),
    State.VERIFIED: frozenset({State.PRIMARY_FROZEN}),
    State.PRIMARY_FROZEN: frozenset({State.PRIMARY_DELETED}),
    State.PRIMARY_DELETED: frozenset(),
}


def allowed(current: State, new: State) -> bool:
    return new in ALLOWED[current]
