"""What the ``onde`` reader does with the record behind each problem it reports (see
:mod:`ent_migrate.outcome_rules`); docs/problems.md repeats the table row for row."""

from __future__ import annotations

from ent_migrate.outcome_rules import Outcome, Rule, RuleTable

__all__ = ["OUTCOMES"]

_K, _D = Outcome.KEPT, Outcome.DROPPED

OUTCOMES = RuleTable(
    "onde",
    (
        # -- files and lines -----------------------------------------------------------------------------
        Rule("file.unknown", "not an ONDE pupils, guardians or teachers header", _D, "the file"),
        Rule("encoding.unsupported", "bytes not in the file's encoding", _D, "the line"),
        Rule("record.invalid", "a line over the size cap", _D, "the line"),
        Rule("record.invalid", "a cell over the size cap", _D, "the record"),
        Rule("record.invalid", "not a CSV record", _D, "the record"),
        Rule("record.invalid", "a quote left open", _D, "its line; the lines it ran through are read again"),
        # -- pupils --------------------------------------------------------------------------------------
        Rule("record.missing-field", "pupil last name", _D, "the pupil"),
        Rule("record.missing-field", "pupil first name", _D, "the pupil"),
        Rule("record.missing-field", "pupil birth date", _K, "the pupil, without birth date"),
        Rule("date.invalid", "birth date: neither dd/mm/yyyy nor yyyy-mm-dd", _K, "the pupil, without birth date"),
        Rule("ine.missing", "empty INE", _K, "the pupil, keyed by its derived id"),
        Rule("ine.duplicate", "INE of an earlier row", _D, "the later row"),
        Rule("record.invalid", "same pupil (names and birth date) twice", _D, "the later row"),
        # -- guardians -----------------------------------------------------------------------------------
        Rule("record.missing-field", "guardian name", _D, "the guardian"),
        Rule("record.missing-field", "guardian child N name", _D, "that child's link; the guardian is kept"),
        Rule("guardian.orphan", "no child", _K, "the guardian, linked to nobody"),
        Rule("link.unresolved", "child N: no pupil", _D, "the link"),
        Rule("link.ambiguous", "child N: N pupils", _D, "the link"),
        # -- teachers ------------------------------------------------------------------------------------
        Rule("record.missing-field", "teacher name", _D, "the teacher"),
    ),
)
