"""status --json counts per state per school, the lock, schedule --print, notices and reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ent_migrate.fixtures.promotion import ECOLES, PromotionFixture
from ent_migrate.problems import PROBLEM_CODES
from ent_migrate.promotion import PromotionStore
from ent_migrate.promotion.report import WHY_MISSING
from ent_migrate.state.lock import hold_lock
from tests.connectors.aaf.helpers import document, etab, pupil, write_bundle
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
    # per pupil, by pseudonym, the reconciliation's explanation: how matched, which keys agreed
    pupils = data["pupils"]
    assert len(pupils) == 12
    assert all(ref.startswith("p:") for ref in pupils)
    methods = sorted(p["match"]["method"] for p in pupils.values() if p["match"])
    # e04 private (a decision), five by INE, e03, e11 (no INE on the primary side) and the twins by names
    assert methods == ["decision", *["ine"] * 5, *["names"] * 4]
    twins = [p["match"] for p in pupils.values() if p["reason"] == "review"]
    assert [(t["decision"], t["candidates"]) for t in twins] == [("review", 2), ("review", 2)]
    assert "Durand" not in got.stdout
    assert not re.search(r"\be\d\d\b", got.stdout)  # no primary id (inside a hex digest is no id)


def test_status_lists_the_pupils_in_review_with_why(run: Runner, promo: PromotionFixture) -> None:
    run("2027-06-01")
    got = _cli(promo, "promote", "status", "--today", "2027-06-01")
    assert got.returncode == 0, got.stderr
    text = " ".join(got.stdout.split())  # rich wraps long lines
    assert text.count("review p:") == 2
    assert "2 candidate(s)" in text
    assert "next: score 75, matched last_name, birth_date, school_of_origin, differed first_name" in text


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
    for name in ("Martin", "Durand", "111111111AA"):
        assert name not in report
    assert not re.search(r"\be\d\d\b", report)  # no primary id (inside a hex digest is no id)
    data = json.loads(report)
    assert data["ecoles"][ECOLES[0]]["non_apparies"] == 4
    why = {a["pourquoi"]: a["appariement"] for a in data["ecoles"][ECOLES[0]]["absents"]}
    assert why[WHY_MISSING["review"]]["candidates"] == 2  # the twins: the explanation beside "pourquoi"
    arrived = [e["appariement"] for c in data["colleges"].values() for e in c["eleves"]]
    assert {"ine", "names"} <= {a["method"] for a in arrived if a}
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


def test_problems_carry_codes_reach_the_report_and_warnings_keep_exit_0(
    store: PromotionStore, promo: PromotionFixture
) -> None:
    got = _cli(promo, "promote", "apply", "--json", "--today", "2027-06-01")
    assert got.returncode == 0, got.stderr  # the twins' review is a warning: shown, not a failure
    data = json.loads(got.stdout)
    assert [(p["code"], p["severity"], p["count"]) for p in data["problems"]] == [("promotion.review", "warning", 2)]
    assert all(code in PROBLEM_CODES for code in (p["code"] for p in data["problems"]))
    assert all(e.startswith("pupil p:") for p in data["problems"] for e in p["examples"])
    assert _cli(promo, "promote", "report").returncode == 0
    report = json.loads((promo.root / "promotion-out" / "rapport-promotion.json").read_text(encoding="utf-8"))
    assert [p["code"] for p in report["problemes_dernier_passage"]] == ["promotion.review"]


def _aaf_college(promo: PromotionFixture, safety: str = "") -> None:
    """The collège side as an AAF 2D bundle with two pupils under one INE (ine.duplicate, an error)."""
    pupils = [pupil("100", ine="123456789AB"), pupil("101", ine="123456789AB")]
    folder = write_bundle(promo.root / "aaf2d", {"EtabEducNat": document([etab()]), "Eleve": document(pupils)})
    text = promo.config.read_text(encoding="utf-8")
    start, end = text.index("[source.college]"), text.index("[target.college_ent]")
    promo.config.write_text(
        text[:start] + f'[source.college]\nspec = "aaf:{folder}"\n\n{safety}' + text[end:], encoding="utf-8"
    )


def test_input_errors_of_a_source_refuse_apply_as_in_the_pipeline(
    store: PromotionStore, promo: PromotionFixture
) -> None:
    _aaf_college(promo)
    plan = _cli(promo, "promote", "plan", "--json", "--today", "2027-06-01")
    assert plan.returncode == 1, plan.stderr
    data = json.loads(plan.stdout)
    assert data["input_errors"] >= 1
    duplicate = next(p for p in data["problems"] if p["code"] == "ine.duplicate")
    assert duplicate["severity"] == "error"
    assert all(e.startswith("college: ENT2D_") for e in duplicate["examples"])  # the side, then file:line
    refused = _cli(promo, "promote", "apply", "--today", "2027-06-01")
    assert refused.returncode == 1
    assert "max_input_errors" in " ".join(refused.stdout.split())
    assert "Traceback" not in refused.stderr


def test_input_errors_accepted_knowingly_let_apply_run(store: PromotionStore, promo: PromotionFixture) -> None:
    _aaf_college(promo, safety="[safety]\nmax_input_errors = -1\n\n")
    got = _cli(promo, "promote", "apply", "--json", "--today", "2027-06-01")
    assert got.returncode == 1, got.stderr  # applied, and the errors still say the run is not clean
    data = json.loads(got.stdout)
    assert data["dry_run"] is False
    assert "ine.duplicate" in {p["code"] for p in data["problems"]}


def test_a_side_that_reads_no_accounts_is_a_usage_error(store: PromotionStore, promo: PromotionFixture) -> None:
    # a mail-only connector (an edifice-archive hand-back now reads its owner's account)
    (promo.root / "mail").mkdir()
    text = promo.config.read_text(encoding="utf-8")
    start, end = text.index("[source.primary]"), text.index("[source.college]")
    spec = f'[source.primary]\nspec = "maildir:{promo.root / "mail"}"\n\n'
    promo.config.write_text(text[:start] + spec + text[end:], encoding="utf-8")
    got = _cli(promo, "promote", "plan", "--today", "2027-06-01")
    assert got.returncode == 2
    assert "[source.primary]: the maildir connector reads no accounts" in got.stderr
    assert "Traceback" not in got.stderr


def test_a_target_that_writes_no_documents_is_refused_before_any_pupil_moves(
    store: PromotionStore, promo: PromotionFixture
) -> None:
    # a mail-only target: each import used to fail on its first document (NotImplementedError)
    (promo.root / "mail-target").mkdir()
    text = promo.config.read_text(encoding="utf-8")
    start = text.index("[target.college_ent]")
    end = text.index("\n[", start + 1) + 1 if "\n[" in text[start + 1 :] else len(text)
    spec = f'[target.college_ent]\nspec = "maildir:{promo.root / "mail-target"}"\n\n'
    promo.config.write_text(text[:start] + spec + text[end:], encoding="utf-8")
    got = _cli(promo, "promote", "apply", "--today", "2027-07-05")
    assert got.returncode == 2, got.stderr
    assert "writes no documents" in got.stderr
    assert "Traceback" not in got.stderr
    assert store.pupils(2026) == {}  # refused before any pupil was detected


def test_a_target_refusing_imports_fails_only_those_pupils_and_the_next_run_imports(
    store: PromotionStore, promo: PromotionFixture
) -> None:
    assert _cli(promo, "promote", "apply", "--today", "2027-06-01").returncode == 0
    healthy = promo.config.read_text(encoding="utf-8")
    # the memory target's own fault injection: every write fails for good
    promo.config.write_text(healthy.replace("[target.college_ent]\n", "[target.college_ent]\nterminal_error = 1.0\n"))
    got = _cli(promo, "promote", "apply", "--json", "--today", "2027-07-05")
    assert got.returncode == 1, got.stderr
    data = json.loads(got.stdout)
    failed = {p["code"]: p for p in data["problems"]}["promotion.import-failed"]
    assert (failed["severity"], failed["count"]) == ("error", 7)  # the seven pupils of project collèges
    assert failed["details"] == ["TerminalError"]
    pupils = store.pupils(2026)
    assert sorted(p.state.value for p in pupils.values()).count("exported") == 8  # + the private collège's
    assert store.intents_left() == 7
    promo.config.write_text(healthy, encoding="utf-8")
    again = _cli(promo, "promote", "apply", "--json", "--today", "2027-07-06")
    assert again.returncode == 0, again.stdout
    assert sorted(p.state.value for p in store.pupils(2026).values()).count("verified") == 7
    assert store.intents_left() == 0
