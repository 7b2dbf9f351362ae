"""The ``[promotion]`` section of promotion.toml: which sources and target, dates, thresholds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ent_migrate.config import Config
from ent_migrate.errors import ConfigError
from ent_migrate.tomlwhere import where as line_where

__all__ = ["PromotionConfig", "load_promotion_config"]

_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")
_HOUR = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_KNOWN = {
    "school_year",
    "primary",
    "college",
    "target",
    "project_colleges",
    "decisions",
    "origins",
    "promotion_date",
    "freeze_date",
    "leave_date",
    "deletion_months",
    "window_start",
    "window_end",
    "run_time",
    "expected_cm2",
    "min_ratio",
    "match_score",
    "review_score",
    "folder",
    "output",
    "download_url",
    "opt_out_contact",
}


@dataclasses.dataclass(frozen=True, slots=True)
class PromotionConfig:
    school_year: int  # N: the CM2 year N/N+1 (2026 = 2026-2027); they enter 6e in N+1
    primary: str  # [source.NAME] of the primary side (ONDE/AAF 1D or the primary ENT)
    college: str  # [source.NAME] of the collège side (SIECLE / AAF 2D)
    target: str | None  # [target.NAME] of the collège ENT; None: zips only
    project_colleges: frozenset[str]
    decisions: Path | None
    origins: Path | None
    promotion_date: dt.date
    freeze_date: dt.date
    leave_date: dt.date
    deletion_months: int
    window_start: tuple[int, int]
    window_end: tuple[int, int]
    run_time: str
    expected_cm2: Mapping[str, int]
    min_ratio: float
    match_score: int
    review_score: int
    folder: str
    output: Path
    download_url: str
    opt_out_contact: str

    @property
    def deletion_date(self) -> dt.date:
        """Leaving date + deletion_months (never more than 3 months: the CNIL deadline)."""
        month = self.leave_date.month - 1 + self.deletion_months
        year = self.leave_date.year + month // 12
        month = month % 12 + 1
        day = min(self.leave_date.day, 28)
        return dt.date(year, month, day)

    @property
    def delete_from(self) -> dt.date:
        """Deletion is made from here on: a month of grace after the read-only date, never past the deadline."""
        return min(self.deletion_date, self.freeze_date + dt.timedelta(days=30))


class _At:
    """``file:line: [promotion] key`` for a message about *key* (the line found again in the text:
    tomllib gives no positions)."""

    def __init__(self, config: Config) -> None:
        self._name = config.where
        try:
            self._text = config.path.read_text(encoding="utf-8") if config.path is not None else ""
        except (OSError, UnicodeDecodeError):
            self._text = ""

    def __call__(self, key: str) -> str:
        return f"{line_where(self._name, self._text, 'promotion', key)}: [promotion] {key}"


def _date(section: Mapping[str, Any], name: str, where: _At, default: dt.date) -> dt.date:
    value = section.get(name)
    if value is None:
        return default
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where(name)}: expected a date YYYY-MM-DD")


def _month_day(section: Mapping[str, Any], name: str, where: _At, default: str) -> tuple[int, int]:
    value = section.get(name, default)
    m = _MONTH_DAY.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ConfigError(f"{where(name)}: expected MM-DD")
    month, day = int(m.group(1)), int(m.group(2))
    try:
        dt.date(2000, month, day)
    except ValueError:
        raise ConfigError(f"{where(name)}: no such day {value!r}") from None
    return month, day


def _int(section: Mapping[str, Any], name: str, where: _At, default: int, lo: int, hi: int) -> int:
    value = section.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{where(name)}: expected an integer from {lo} to {hi}")
    return value


def load_promotion_config(config: Config) -> PromotionConfig:
    where = _At(config)
    section = config.section("promotion")
    if not section:
        raise ConfigError(f"{config.where}: no [promotion] section (see docs/promotion.md)")
    unknown = sorted(set(section) - _KNOWN)
    if unknown:
        raise ConfigError(f"{where(unknown[0])}: unknown key(s) {', '.join(unknown)} in [promotion]")
    base = config.path.parent.resolve() if config.path is not None else Path.cwd()
    year = _int(section, "school_year", where, 0, 2000, 2100)
    for name in ("primary", "college"):
        if not isinstance(section.get(name), str):
            raise ConfigError(f'{where(name)}: name the [source.NAME] section, e.g. {name} = "{name}"')
    target = section.get("target")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"{where('target')}: expected the name of a [target.NAME] section")
    colleges = section.get("project_colleges", [])
    if not isinstance(colleges, list) or not all(isinstance(c, str) for c in colleges):
        raise ConfigError(f"{where('project_colleges')}: expected a list of UAIs")
    expected = section.get("expected_cm2", {})
    if not isinstance(expected, Mapping) or not all(isinstance(v, int) and v >= 0 for v in expected.values()):
        raise ConfigError(f"{where('expected_cm2')}: expected a table UAI = count")
    paths: dict[str, Path | None] = {}
    for name in ("decisions", "origins"):
        value = section.get(name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where(name)}: expected a file path")
        paths[name] = (base / value) if isinstance(value, str) else None
    promotion = _date(section, "promotion_date", where, dt.date(year + 1, 7, 4))
    leave = _date(section, "leave_date", where, dt.date(year + 1, 8, 31))
    freeze = _date(section, "freeze_date", where, leave)
    if not promotion <= freeze:
        raise ConfigError(f"{where('freeze_date')}: must not come before promotion_date")
    ratio = section.get("min_ratio", 0.8)
    if not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ConfigError(f"{where('min_ratio')}: expected a number from 0 to 1")
    run_time = section.get("run_time", "20:30")
    if not isinstance(run_time, str) or not _HOUR.fullmatch(run_time):
        raise ConfigError(f"{where('run_time')}: expected HH:MM (outside school hours, e.g. 20:30)")
    if 7 <= int(run_time[:2]) < 18:
        raise ConfigError(f"{where('run_time')}: {run_time} is during school hours; choose 18:00-06:59")
    match_score = _int(section, "match_score", where, 90, 1, 100)
    review_score = _int(section, "review_score", where, 60, 1, 100)
    if review_score > match_score:
        raise ConfigError(f"{where('review_score')}: must not exceed match_score")
    return PromotionConfig(
        school_year=year,
        primary=str(section["primary"]),
        college=str(section["college"]),
        target=target,
        project_colleges=frozenset(colleges),
        decisions=paths["decisions"],
        origins=paths["origins"],
        promotion_date=promotion,
        freeze_date=freeze,
        leave_date=leave,
        deletion_months=_int(section, "deletion_months", where, 3, 0, 3),
        window_start=_month_day(section, "window_start", where, "07-01"),
        window_end=_month_day(section, "window_end", where, "10-15"),
        run_time=run_time,
        expected_cm2={str(k): int(v) for k, v in expected.items()},
        min_ratio=float(ratio),
        match_score=match_score,
        review_score=review_score,
        folder=str(section.get("folder", "Mon école primaire")),
        output=base / str(section.get("output", "promotion-out")),
        download_url=str(section.get("download_url", "")),
        opt_out_contact=str(section.get("opt_out_contact", "")),
    )
