"""The safety thresholds, enforced by plan and again by apply.

Conservative by default: a truncated export must not disable an académie. Disables count as deletions
(both take access away from people); moves count as updates. Input errors (records the source could
not read) stop plan unless the lead accepts a known number with ``max_input_errors``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from ent_migrate.errors import ConfigError, ThresholdExceededError
from ent_migrate.outcomes import ACCESS_REMOVING_ACTIONS, CHANGING_ACTIONS

__all__ = ["DEFAULTS", "Safety", "check_thresholds", "counted"]


@dataclasses.dataclass(frozen=True)
class Safety:
    """``[safety]``: the most a plan may delete or disable (a count and a share of the target), the
    largest share it may update, and how many input errors are accepted. ``-1`` lifts a limit."""

    max_deletions: int = 50
    max_deletions_pct: float = 1.0
    max_updates_pct: float = 30.0
    max_input_errors: int = 0

    @classmethod
    def from_config(cls, table: Mapping[str, Any], where: str = "[safety]") -> Safety:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - set(fields))
        if unknown:
            raise ConfigError(f"{where}: unknown setting {', '.join(unknown)} (known: {', '.join(fields)})")
        values: dict[str, Any] = {}
        for name, value in table.items():
            integer = fields[name].type in (int, "int")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (integer and not isinstance(value, int))
            ):
                raise ConfigError(
                    f"{where} {name} must be {'a whole number' if integer else 'a number'}, not {value!r}"
                )
            if value < 0 and value != -1:
                raise ConfigError(f"{where} {name} must be 0 or more (or -1 for no limit), not {value!r}")
            if not integer and not math.isfinite(value):
                raise ConfigError(f"{where} {name} must be a finite number")
            values[name] = value
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v != -1}


DEFAULTS = Safety()


def counted(counts: Mapping[str, Any]) -> tuple[int, int]:
    """(deletions and disables, updates and moves) in plan counts."""
    deletions = sum(int(counts.get(str(a), 0)) for a in ACCESS_REMOVING_ACTIONS)
    updates = sum(int(counts.get(str(a), 0)) for a in CHANGING_ACTIONS)
    return deletions, updates


def _pct_fix(share: float) -> str:
    """The smallest one-decimal value that lets *share* pass (never rounded below it)."""
    return f"{math.ceil(share * 10) / 10:.1f}"


def check_thresholds(safety: Safety, counts: Mapping[str, Any], target_total: int) -> None:
    """Stop over a safety threshold, naming it, the count and share, and a value that passes."""
    deletions, updates = counted(counts)

    def stop(what: str, setting: str, limit: float, fix: str) -> None:
        raise ThresholdExceededError(
            f"the plan would {what}, over the safety threshold [safety] {setting} = {limit:g}. "
            f"Check that the source export is complete; if this is intended, raise it: "
            f"set [safety] {setting} = {fix} in the config file, or pass --{setting.replace('_', '-')} {fix}",
            setting=setting,
            suggested=fix,
        )

    share = (100.0 * deletions / target_total) if target_total else 0.0
    if safety.max_deletions != -1 and deletions > safety.max_deletions:
        stop(
            f"delete or disable {deletions} items ({share:.1f}% of the {target_total} the target holds)",
            "max_deletions",
            safety.max_deletions,
            str(deletions),
        )
    if target_total:
        if safety.max_deletions_pct != -1 and share > safety.max_deletions_pct:
            stop(
                f"delete or disable {deletions} of the {target_total} items the target holds ({share:.2f}%)",
                "max_deletions_pct",
                safety.max_deletions_pct,
                _pct_fix(share),
            )
        upd = 100.0 * updates / target_total
        if safety.max_updates_pct != -1 and upd > safety.max_updates_pct:
            stop(
                f"update {updates} of the {target_total} items the target holds ({upd:.2f}%)",
                "max_updates_pct",
                safety.max_updates_pct,
                _pct_fix(upd),
            )
