"""The apply time window: parsing, inside/outside, time left, windows that cross midnight."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.pipeline.window import Window, parse_window


def at(hh: int, mm: int, ss: int = 0) -> dt.time:
    return dt.time(hh, mm, ss)


def test_a_night_window_crosses_midnight() -> None:
    w = parse_window("19:00-07:00")
    assert w.crosses_midnight
    assert all(w.contains(at(*t)) for t in ((19, 0), (23, 59), (0, 0), (6, 59, 59)))
    assert not any(w.contains(at(*t)) for t in ((7, 0), (12, 0), (18, 59, 59)))
    assert w.seconds_until_end(at(19, 0)) == 12 * 3600
    assert w.seconds_until_end(at(6, 0)) == 3600
    assert w.seconds_until_end(at(12, 0)) == 0
    assert w.seconds_until_start(at(18, 0)) == 3600
    assert w.seconds_until_start(at(7, 0)) == 12 * 3600
    assert str(w) == "19:00-07:00"


def test_a_day_window() -> None:
    w = parse_window(" 12:30 - 13:45 ")
    assert not w.crosses_midnight
    assert w.contains(dt.datetime(2026, 1, 5, 12, 30))
    assert not w.contains(dt.datetime(2026, 1, 5, 13, 45))
    assert w.seconds_until_end(at(13, 0)) == 45 * 60
    assert w.seconds_until_start(at(14, 0)) == (22 * 60 + 30) * 60


@pytest.mark.parametrize("text", ["", "19:00", "19h-07h", "25:00-07:00", "19:60-07:00", "07:00-07:00", "1-2-3"])
def test_bad_windows_are_refused_with_the_place_named(text: str) -> None:
    with pytest.raises(ValueError, match=r"^x\.toml \[run\] window: "):
        parse_window(text, "x.toml [run] window")


times = st.times()
minutes = st.integers(0, 24 * 60 - 1)


@given(start=minutes, end=minutes, now=times)
def test_inside_exactly_when_time_is_left(start: int, end: int, now: dt.time) -> None:
    if start == end:
        return
    w = Window(start, end)
    inside = w.contains(now)
    assert (w.seconds_until_end(now) > 0) == inside
    assert (w.seconds_until_start(now) == 0) == inside
    assert 0 <= w.seconds_until_end(now) <= 24 * 3600
    assert 0 <= w.seconds_until_start(now) < 24 * 3600
    assert parse_window(str(w)) == w
