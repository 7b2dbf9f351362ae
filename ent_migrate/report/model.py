"""What a report is made of: the items the pipeline streams in, the run's summary, and what was written.

The vocabulary (statuses, verify marks and their CSV words, which kinds keep clear keys) lives here so
the writers, the HTML labels and the tests agree on one list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "CLEAR_KEY_KINDS",
    "MARK_WORDS",
    "PLAN_STATUSES",
    "QUIET_STATUSES",
    "ReportData",
    "ReportItem",
    "WrittenReport",
    "status_word",
]

#: verify marks, like ``rclone check --combined``, and the word the CSV carries for each: a cell that
#: starts with ``=``, ``+`` or ``-`` is a formula to a spreadsheet, so the status column is a word.
MARK_WORDS: dict[str, str] = {
    "=": "same",
    "+": "missing",
    "-": "extra",
    "*": "differs",
    "!": "error",
}

#: plan statuses, in the order reports show them.
PLAN_STATUSES: tuple[str, ...] = ("create", "update", "disable", "delete", "move", "skip", "invalid")

#: statuses that say "nothing to look at": counted exactly but never kept in memory for the lists.
QUIET_STATUSES: frozenset[str] = frozenset({"=", "skip"})

#: kinds whose canonical key holds no personal data (a UAI, or UAI$code for a class or group): shown
#: as is, since a project lead must be able to find the school or class. Every other key is pseudonymised.
CLEAR_KEY_KINDS: frozenset[str] = frozenset({"structure", "group"})


def status_word(status: str) -> str:
    """The CSV word for a status: verify marks become words, plan statuses already are."""
    return MARK_WORDS.get(status, status)


@dataclasses.dataclass(frozen=True)
class ReportItem:
    """One record's outcome. ``key`` is the raw canonical key: personal, never written as is."""

    kind: str
    key: str
    status: str
    reason: str = ""
    uai: str | None = None
    profile: str | None = None
    #: plan, people only: the identity matched (raw canonical id, pseudonymised when written), how
    #: (``new``, ``ine``, ``jointure``, ``score``, ``decision``), why (``score 0.950: +last_name -ine``)
    #: and where the login came from (``kept``, ``built``...; never the login itself).
    identity: str | None = None
    match: str | None = None
    why: str | None = None
    login: str | None = None


@dataclasses.dataclass
class ReportData:
    """A run's report before writing. ``items`` is iterated exactly once (it may be a generator)."""

    kind: str  # "plan" or "verify"
    run_id: str
    created_at: str  # ISO 8601 UTC; part of the data so that re-writing gives identical bytes
    source: str
    target: str
    counts: dict[str, int]
    counts_by_kind: dict[str, dict[str, int]]
    #: people per school (UAI, "?" when none) and profile; may be filled while ``items`` is iterated
    #: (the state store's reports count them on the way): the writers read it after the CSV
    counts_by_school: dict[str, dict[str, int]]
    items: Iterable[ReportItem]
    problems: list[dict[str, Any]]
    thresholds: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: what the report certifies (ent_migrate.outcomes.Verdict for verify; for a plan: "ready",
    #: "input-problems" or "refused")
    verdict: str = "not-verified"
    key_id: str = ""  # which pseudonym key made the ids (a fingerprint of the key, never the key)
    revision: int = 0  # the plan revision (or the verify's number) this report is
    input_errors: int = 0  # error-level occurrences met reading the source
    accepted_input_errors: int = 0  # [safety] max_input_errors, when the lead accepted some
    #: every occurrence that could not be read: {"code", "severity", "where", "detail"}; iterated once
    unread: Iterable[dict[str, Any]] = ()
    refusal: str | None = None  # the safety threshold's message when plan refused
    plan_digest: str | None = None  # verify: the digest of the plan report that was applied
    #: plan: the review queue entries still undecided for this run's source ({"reason", "person",
    #: "candidate", "profile", "score", "matched", "differed"}, raw keys: pseudonymised when written);
    #: None leaves the section out (verify, or a caller without a state store)
    conflicts: list[dict[str, str]] | None = None


@dataclasses.dataclass(frozen=True)
class WrittenReport:
    """The files written (JSON, CSV, HTML, SHA256SUMS) and the SHA-256 of the SHA256SUMS file."""

    paths: list[Path]
    digest: str
