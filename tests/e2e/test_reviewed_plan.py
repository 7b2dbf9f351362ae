"""apply executes the plan that was reviewed, and no other, tried as users type the commands: a report
edited after plan, a target changed in the config between plan and apply (or mid-apply), a colleague's
re-plan, a config given by another path from another folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_verdicts import ENV, _memory_config, cli, memory_source

__all__ = ["memory_source"]  # the fixture, used by name below


def _plan(config: Path) -> dict[str, object]:
    done = cli("-c", str(config), "plan", "--json")
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def _target(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "vendor-b").iterdir())


def _digest(plan: dict[str, object]) -> str:
    report = plan["report"]
    assert isinstance(report, dict)
    return str(report["digest"])


def _folder(plan: dict[str, object]) -> Path:
    report = plan["report"]
    assert isinstance(report, dict)
    return Path(report["dir"])


def test_apply_plan_names_the_reviewed_report_and_refuses_a_newer_one(tmp_path: Path, memory_source: str) -> None:
    config = _memory_config(tmp_path)
    reviewed = _plan(config)
    latest = _plan(config)  # a colleague plans again: a new revision, not the one reviewed
    assert _digest(latest) != _digest(reviewed)
    refused = cli("-c", str(config), "apply", "--plan", _digest(reviewed)[:12])
    assert refused.returncode == 2, refused.stderr
    assert f"not the one you name ({_digest(reviewed)[:12]})" in refused.stderr
    assert f"--plan {_digest(latest)[:12]}" in refused.stderr  # what to do once that one is read
    assert _target(tmp_path) == []
    badly = cli("-c", str(config), "apply", "--plan", "abc")
    assert (badly.returncode, "at least 8 hexadecimal" in badly.stderr) == (2, True)
    applied = cli("-c", str(config), "apply", "--plan", _digest(latest)[:12].upper(), "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["plan_digest"] == _digest(latest)
    assert _target(tmp_path) != []


def test_plan_prints_the_apply_command_for_its_report(tmp_path: Path, memory_source: str) -> None:
    config = _memory_config(tmp_path)
    shown = cli("-c", str(config), "plan")
    assert shown.returncode == 0, shown.stderr
    (folder,) = (tmp_path / "reports").glob("*/plan-1")
    digest = hashlib.sha256((folder / "SHA256SUMS").read_bytes()).hexdigest()
    assert f"ent-migrate apply --plan {digest[:12]}" in shown.stdout
    assert cli("-c", str(config), "apply", "--plan", digest[:12]).returncode == 0


@pytest.mark.parametrize("damage", ["edit", "delete", "resave-sums"])
def test_a_plan_report_changed_after_plan_is_not_applied(tmp_path: Path, memory_source: str, damage: str) -> None:
    config = _memory_config(tmp_path)
    planned = _plan(config)
    folder = _folder(planned)
    csv = folder / "plan-report.csv"
    if damage == "edit":
        # the deletions hidden from the reviewer: one line gone
        lines = csv.read_text().splitlines(keepends=True)
        csv.write_text("".join(lines[:-1]))
    elif damage == "delete":
        csv.unlink()
    else:
        # a report made to look consistent again: SHA256SUMS recomputed after the edit
        csv.write_text(csv.read_text().replace(",", ";"))
        sums = subprocess.run(
            ["sha256sum", *sorted(p.name for p in folder.iterdir() if p.name != "SHA256SUMS")],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        (folder / "SHA256SUMS").write_text(sums.stdout)
    refused = cli("-c", str(config), "apply")
    assert refused.returncode == 2, refused.stderr
    named = "SHA256SUMS" if damage == "resave-sums" else "plan-report.csv"
    assert named in refused.stderr
    assert "ent-migrate report" in refused.stderr  # how to get a report to review again
    assert _target(tmp_path) == []
    run_id = str(planned["run_id"])
    again = cli("-c", str(config), "report", run_id[:8], "--kind", "plan", "--json")
    assert again.returncode == 0, again.stderr
    applied = cli("-c", str(config), "apply", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["plan_digest"] == json.loads(again.stdout)["digest"]


def _retarget(config: Path, old: Path, new: Path) -> None:
    new.mkdir(exist_ok=True)
    config.write_text(config.read_text().replace(f'package:{old}"', f'package:{new}"'))


def test_a_target_changed_after_plan_gets_nothing(tmp_path: Path, memory_source: str) -> None:
    config = _memory_config(tmp_path)
    _plan(config)
    _retarget(config, tmp_path / "vendor-b", tmp_path / "vendor-c")
    refused = cli("-c", str(config), "apply")
    assert refused.returncode == 2, refused.stderr
    assert "made for another configuration" in refused.stderr
    assert str(tmp_path / "vendor-c") in refused.stderr  # which target it now names
    assert _target(tmp_path) == []
    assert list((tmp_path / "vendor-c").iterdir()) == []
    assert cli("-c", str(config), "plan").returncode == 0  # planned for it: now it may be applied
    assert cli("-c", str(config), "apply").returncode == 0
    assert list((tmp_path / "vendor-c").iterdir()) != []


def test_an_apply_begun_on_one_target_does_not_finish_on_another(tmp_path: Path, memory_source: str) -> None:
    config = _memory_config(tmp_path)
    _plan(config)
    first = cli("-c", str(config), "apply", "--max-ops", "5", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["pending"] > 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "vendor-b").rglob("*")}
    _retarget(config, tmp_path / "vendor-b", tmp_path / "vendor-c")
    refused = cli("-c", str(config), "apply")
    assert refused.returncode == 2, refused.stderr
    assert "made for another configuration" in refused.stderr
    assert list((tmp_path / "vendor-c").iterdir()) == []
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "vendor-b").rglob("*")} == before
    _retarget(config, tmp_path / "vendor-c", tmp_path / "vendor-b")  # the config restored: it finishes
    finished = cli("-c", str(config), "apply", "--json")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["pending"] == 0
    verified = cli("-c", str(config), "verify", "--json")
    assert verified.returncode == 0, verified.stderr


def test_a_config_given_from_another_folder_applies_the_plan(tmp_path: Path, memory_source: str) -> None:
    config = _memory_config(tmp_path)
    # planned with a relative -c from the project folder, applied with an absolute one from elsewhere
    planned = subprocess.run(
        [sys.executable, "-m", "ent_migrate", "-c", config.name, "plan", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert Path(json.loads(planned.stdout)["report"]["dir"]).is_absolute()
    (tmp_path / "elsewhere").mkdir()
    applied = subprocess.run(
        [sys.executable, "-m", "ent_migrate", "-c", str(config), "apply"],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
