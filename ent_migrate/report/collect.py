"""What one pass over a report's items keeps, and the order statuses are shown in.

Shared by the writers and the HTML page (which therefore do not import each other)."""

from __future__ import annotations

from ent_migrate.report.model import MARK_WORDS, PLAN_STATUSES, QUIET_STATUSES

__all__ = ["Collected", "ordered_statuses"]


def ordered_statuses(statuses: set[str] | list[str]) -> list[str]:
    """Known statuses in their usual order (marks, then plan statuses), then unknown ones sorted."""
    order = [*MARK_WORDS, *PLAN_STATUSES]
    present = set(statuses)
    return [s for s in order if s in present] + sorted(present - set(order))


class Collected:
    """What one pass over the items keeps: exact counts per status, capped lists of differences."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.rows = 0
        self.seen: dict[str, int] = {}
        self.lists: dict[str, list[dict[str, str | None]]] = {}
        #: plan: people per match method and per login origin, exact (the lists are capped)
        self.matches: dict[str, int] = {}
        self.logins: dict[str, int] = {}

    def add(self, status: str, entry: dict[str, str | None]) -> None:
        self.rows += 1
        if match := entry.get("match"):
            self.matches[match] = self.matches.get(match, 0) + 1
        if login := entry.get("login"):
            self.logins[login] = self.logins.get(login, 0) + 1
        self.seen[status] = self.seen.get(status, 0) + 1
        if status in QUIET_STATUSES:
            return
        kept = self.lists.setdefault(status, [])
        if len(kept) < self.cap:
            kept.append(entry)

    def ordered_lists(self) -> dict[str, list[dict[str, str | None]]]:
        return {status: self.lists[status] for status in ordered_statuses(list(self.lists))}

    def capped(self, cap: int) -> tuple[dict[str, list[dict[str, str | None]]], dict[str, int]]:
        """The lists cut to ``cap`` per status, and per status how many they leave out (the CSV has all)."""
        lists = {status: kept[:cap] for status, kept in self.ordered_lists().items()}
        truncated = {status: n for status, kept in lists.items() if (n := self.seen[status] - len(kept)) > 0}
        return lists, truncated
