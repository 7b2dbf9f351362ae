"""status --json counts per state per school, the lock, schedule --print, notices and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ent_migrate.fixtures.promotion import ECOLES, PromotionFixture
from ent_migrate.promotion import PromotionStore
from ent_migrate.state.lock import hold_lock
from tests.promotion.conftest import Runner


def _cli(promo: PromotionFixture, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", "-c", str(promo.config), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )


def test_status_json_counts_per_state_per_school(run: Runner, store: PromotionStore, promo: PromotionFixture) -> None:
    run("2027-06-01")
    got = _cli(promo, "promote", "status", "--json", "--today", "2027-06-01")
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert data["schools"][ECOLES[0]]["notified"] == 3
    assert data["schools"][ECOLES[0]]["unmatched"] == 4
    assert data["totals"]["notified"] == 8
    assert data["deadlines"]["primary_deleted_by"] == "2027-11-28"


def test_a_second_run_is_refused_while_the_lock_is_held(store: PromotionStore, promo: PromotionFixture) -> None:
    with hold_lock(store.engine, "promote apply"):
        got = _cli(promo, "promote", "apply", "--today", "2027-06-01")
    assert got.returncode == 2
    assert "in use by" in got.stderr


def test_schedule_print_gives_timer_service_and_cron(promo: PromotionFixture) -> None:
    got = _cli(promo, "promote", "schedule", "--print")
    assert got.returncode == 0, got.stderr
    assert "OnCalendar=*-07-01..31 20:30:00" in got.stdout
    assert "OnCalendar=*-10-01..15 20:30:00" in got.stdout
    assert "ExecStart=" in got.stdout
    assert "promote -c" in got.stdout
    crontab = got.stdout.split("# ---- crontab\n")[1].splitlines()
    # cron has no "1 July to 15 October": the first and last months get day ranges of their own
    assert [line.split(" cd ")[0] for line in crontab] == ["30 20 1-31 7 *", "30 20 * 8,9 *", "30 20 1-15 10 *"]
    executable = next(line for line in got.stdout.splitlines() if line.startswith("ExecStart=")).split()[0]
    assert Path(executable.removeprefix("ExecStart=")).is_absolute()  # systemd searches no virtualenv
    assert f"EnvironmentFile={promo.config.with_suffix('.env')}" in got.stdout  # the ${VAR} secrets


def test_run_time_in_school_hours_is_refused(promo: PromotionFixture) -> None:
    text = promo.config.read_text(encoding="utf-8").replace('run_time = "20:30"', 'run_time = "10:00"')
    promo.config.write_text(text, encoding="utf-8")
    got = _cli(promo, "promote", "schedule", "--print")
    assert got.returncode == 2
    assert "school hours" in got.stderr


def test_notices_in_french_and_reports_pseudonymous(
    run: Runner, store: PromotionStore, promo: PromotionFixture
) -> None:
    run("2027-06-01")
    run("2027-07-05")
    notices = list((promo.root / "promotion-out" / "notices").rglob("*.html"))
    assert len(notices) == 8
    text = notices[0].read_text(encoding="utf-8")
    assert "Mon école primaire" in text or "archive" in text
    assert "vous y opposer" in text
    got = _cli(promo, "promote", "report")
    assert got.returncode == 0, got.stderr
    report = (promo.root / "promotion-out" / "rapport-promotion.json").read_text(encoding="utf-8")
    for name in ("Martin", "Durand", "111111111AA", "e01"):
        assert name not in report
    data = json.loads(report)
    assert data["ecoles"][ECOLES[0]]["non_apparies"] == 4
    assert any(f["sha256"] for c in data["colleges"].values() for e in c["eleves"] for f in e["fichiers"])


def test_threshold_refuses_apply(store: PromotionStore, promo: PromotionFixture) -> None:
    text = promo.config.read_text(encoding="utf-8").replace('"0750001A" = 6', '"0750001A" = 60')
    promo.config.write_text(text, encoding="utf-8")
    got = _cli(promo, "promote", "apply", "--today", "2027-06-01")
    assert got.returncode == 1
    assert "refused" in got.stdout
    assert store.pupils(2026) == {}


def test_bad_decisions_file_names_file_and_line(store: PromotionStore, promo: PromotionFixture) -> None:
    (promo.root / "decisions.csv").write_text("pupil_id,decision,uai\ne05,moved,\n", encoding="utf-8")
    got = _cli(promo, "promote", "plan", "--today", "2027-06-01")
    assert got.returncode == 2
    assert "decisions.csv:2" in got.stderr
    assert "Traceback" not in got.stderr


def test_demo_config_is_written(promo: PromotionFixture) -> None:
    assert Path(promo.config).read_text(encoding="utf-8").startswith("# The cycle-3 promotion")


def test_the_config_may_follow_promote_as_the_issue_writes_it(run: Runner, promo: PromotionFixture) -> None:
    # `ent-migrate promote -c promotion.toml status`: the documented form, same answer as the global -c
    run("2027-06-01")
    args = ["status", "--json", "--today", "2027-06-01"]
    after = subprocess.run(
        [sys.executable, "-m", "ent_migrate", "promote", "-c", str(promo.config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(_cli(promo, "promote", *args).stdout)
