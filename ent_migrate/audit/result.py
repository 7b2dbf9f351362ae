"""A clause's verdict and its evidence, as every check returns them."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

__all__ = ["ClauseResult", "Verdict"]


class Verdict(StrEnum):
    CONFORME = "conforme"
    NON_CONFORME = "non conforme"
    PARTIEL = "partiel"
    NON_VERIFIABLE = "non vérifiable"


@dataclasses.dataclass
class ClauseResult:
    clause: str
    title: str
    promised: bool
    delivered: bool
    verdict: Verdict
    why: str  # in French, for the governing body; counts only, never personal data
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    failing: list[str] = dataclasses.field(default_factory=list)  # pseudonyms of the failing items (capped)

    @property
    def met(self) -> bool:
        """A promised clause is met only when proven conforme; a clause not promised is never unmet."""
        return not self.promised or self.verdict is Verdict.CONFORME

    def to_dict(self) -> dict[str, Any]:
        return {
            "clause": self.clause,
            "title": self.title,
            "promised": self.promised,
            "delivered": self.delivered,
            "verdict": str(self.verdict),
            "met": self.met,
            "why": self.why,
            "evidence": self.evidence,
            "failing": self.failing,
        }
