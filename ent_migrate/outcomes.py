"""The one vocabulary of outcomes: stages, statuses, item states, actions and marks.

Every module that records or reads an outcome uses these enums (they are ``StrEnum``, so they are
stored as their plain values and compare equal to them). The derived sets say what each group means,
so no module keeps its own hand-copied list::

    Stage          extract → reconcile → map → plan → apply → verify
    StageStatus    pending → running → done
    RunStatus      planned → running → done | failed | interrupted
    ItemState      extracted → mapped → planned → applied | failed → verified
    JournalStatus  intent → done | failed
    Action         create update move disable delete (WRITE_ACTIONS) · skip · invalid
    Mark           =  +  -  *  !   (DIFFERENCE_MARKS: all but =)
    Verdict        what a verify report certifies
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACCESS_REMOVING_ACTIONS",
    "CHANGING_ACTIONS",
    "DIFFERENCE_MARKS",
    "MARKS",
    "STAGES",
    "WRITE_ACTIONS",
    "Action",
    "ItemState",
    "JournalStatus",
    "Mark",
    "RunStatus",
    "Stage",
    "StageStatus",
    "Verdict",
]


class Stage(StrEnum):
    EXTRACT = "extract"
    RECONCILE = "reconcile"
    MAP = "map"
    PLAN = "plan"
    APPLY = "apply"
    VERIFY = "verify"


STAGES: tuple[Stage, ...] = tuple(Stage)


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class RunStatus(StrEnum):
    PLANNED = "planned"  # a dry-run exists; nothing was sent
    RUNNING = "running"  # a command is working on it now, or was killed while it did
    DONE = "done"  # applied and verified
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C, --max-ops or the time window: re-run to resume


class ItemState(StrEnum):
    """The per-item state machine: extracted → mapped → planned → applied | failed → verified."""

    EXTRACTED = "extracted"
    MAPPED = "mapped"
    PLANNED = "planned"
    APPLIED = "applied"
    FAILED = "failed"
    VERIFIED = "verified"


class JournalStatus(StrEnum):
    INTENT = "intent"  # journaled and committed before it is sent
    DONE = "done"
    FAILED = "failed"


class Action(StrEnum):
    """What plan decides for one item."""

    CREATE = "create"
    UPDATE = "update"
    MOVE = "move"
    DISABLE = "disable"
    DELETE = "delete"
    SKIP = "skip"
    INVALID = "invalid"  # breaks a rule of the target: not sent, listed with the rule


#: the actions apply sends to the target
WRITE_ACTIONS: frozenset[Action] = frozenset({Action.CREATE, Action.UPDATE, Action.MOVE, Action.DISABLE, Action.DELETE})
#: the actions that take access away from people (the deletion thresholds count them)
ACCESS_REMOVING_ACTIONS: frozenset[Action] = frozenset({Action.DISABLE, Action.DELETE})
#: the actions that change an existing account (the update threshold counts them)
CHANGING_ACTIONS: frozenset[Action] = frozenset({Action.UPDATE, Action.MOVE})


class Mark(StrEnum):
    """verify's mark per item, as ``rclone check --combined`` prints them."""

    SAME = "="
    MISSING = "+"  # missing on the target
    EXTRA = "-"  # only on the target
    DIFFERS = "*"
    ERROR = "!"


MARKS: tuple[Mark, ...] = tuple(Mark)
DIFFERENCE_MARKS: frozenset[Mark] = frozenset(MARKS) - {Mark.SAME}


class Verdict(StrEnum):
    """What a report certifies. Only ``complete`` is green."""

    COMPLETE = "complete"  # the target holds everything the source holds, and the source was read whole
    DIFFERENCES = "differences"  # some item is not "="
    INCOMPLETE_SOURCE = "incomplete-source"  # the source had reading errors: what was not read is not proven
    NOT_VERIFIED = "not-verified"  # a plan, or a run never verified
