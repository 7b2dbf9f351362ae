"""What a reader does with the record behind each problem it reports, as a table a reader declares and
docs/problems.md repeats ("What SIECLE and ONDE do with each record"): a test keeps the two equal, and
the reader refuses to report a (code, detail) its table has no row for.

A row is (code, case, outcome, effect): *case* is the problem's detail as the reader words it, with
each number written ``N`` (``child N: no pupil``), or ``*`` for any detail (problems worded by the XML
or archive layer); *outcome* is one of

* ``kept`` — the record is migrated (without the faulty value);
* ``dropped`` — the record (or link, line or file) could not be used and is not migrated;
* ``excluded`` — the record is deliberately left out of the migrated set (a pupil who left), counted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from enum import StrEnum

__all__ = ["ANY", "Outcome", "Rule", "RuleTable"]

ANY = "*"
_NUMBER = re.compile(r"\d+")


class Outcome(StrEnum):
    KEPT = "kept"
    DROPPED = "dropped"
    EXCLUDED = "excluded"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    code: str
    case: str
    outcome: Outcome
    effect: str


class RuleTable:
    """A reader's rows, looked up by (code, detail)."""

    def __init__(self, source: str, rules: Iterable[Rule]) -> None:
        self.source = source
        self.rules = tuple(rules)
        self._by_case = {(r.code, r.case): r for r in self.rules}
        if len(self._by_case) != len(self.rules):
            raise ValueError(f"{source}: two rows for one (code, case)")

    def rule_for(self, code: str, detail: str | None) -> Rule | None:
        """The row for *code* with *detail*, or None when the table has none."""
        case = _NUMBER.sub("N", detail or "")
        return self._by_case.get((code, case)) or self._by_case.get((code, ANY))

    def markdown_rows(self) -> list[str]:
        """The table's rows as docs/problems.md writes them (``| source | code | case | record | what |``)."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        return [
            f"| {self.source} | `{r.code}` | `{cell(r.case)}` | {r.outcome} | {cell(r.effect)} |" for r in self.rules
        ]

    def check(self, code: str, detail: str | None) -> None:
        """Raise when (code, detail) has no row: a reader bug the tests catch, never an undocumented case."""
        if self.rule_for(code, detail) is None:
            raise AssertionError(f"{self.source}: no outcome row for {code} / {detail}")
