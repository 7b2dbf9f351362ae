"""The state machine under a real kill -9 of a subprocess, and re-runs, ending as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ent_migrate.fixtures.promotion import write_promotion_fixture
from ent_migrate.promotion import PromotionStore
from ent_migrate.promotion.engine import CRASH_ENV
from ent_migrate.state import make_engine
from tests.promotion.conftest import Runner, states

_DAYS = ("2027-06-01", "2027-07-05", "2027-09-02", "2027-10-02")


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", "-c", str(root / "promotion.toml"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def _final(root: Path) -> tuple[dict[str, tuple[str, str | None, str | None]], list[tuple[str, str]]]:
    engine = make_engine(f"sqlite:///{root / 'state.db'}")
    try:
        got = states(PromotionStore(engine))
        left = PromotionStore(engine).intents_left()
    finally:
        engine.dispose()
    assert left == 0
    docs = set()
    for line in (root / "college-ent.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line).get("record") or {}
        if "path" in rec:
            docs.add((f"{rec['owner_id']}|{rec['path']}", rec["sha256"]))
    return got, sorted(docs)


def _summer(root: Path, kills: dict[str, list[int]]) -> None:
    assert _cli(root, "db", "upgrade").returncode == 0
    for day in _DAYS:
        for kill_after in kills.get(day, []):
            # a real SIGKILL, sent by the process to itself after its N-th effect, before the state
            # change that effect belongs to is committed: the worst moment
            crashed = _cli(root, "promote", "apply", "--today", day, env={CRASH_ENV: str(kill_after)})
            assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        done = _cli(root, "promote", "apply", "--today", day)
        assert done.returncode == 0, done.stdout + done.stderr


def test_kill_9_then_rerun_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    clean = write_promotion_fixture(tmp_path / "clean", store_prefix="clean").root
    crashed = write_promotion_fixture(tmp_path / "crashed", store_prefix="crashed").root
    _summer(clean, {})
    # notices, then export/import (twice, at different points), then deletion
    _summer(crashed, {"2027-06-01": [3], "2027-07-05": [1, 9], "2027-10-02": [2]})
    assert _final(crashed) == _final(clean)
    assert _final(clean)[0]["e01"][0] == "primary_deleted"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.lists(st.sampled_from(_DAYS), min_size=1, max_size=5))
# a first run on the deletion date: verified after the target's finish(), then frozen and deleted in
# the same run (a re-run used to finish the deletion)
@example(days=["2027-10-02"])
def test_reruns_are_idempotent(run: Runner, store: PromotionStore, days: list[str]) -> None:
    for day in sorted(days):
        run(day)
        before = states(store)
        again = run(day)
        assert states(store) == before
        assert again.transitions == {}
