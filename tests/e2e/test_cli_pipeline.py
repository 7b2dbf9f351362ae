"""The pipeline commands as a user types them: config file, exit codes, --json, reports on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from tests.pipeline._helpers import district, fill_persisted

ENV = {**os.environ, "CI": "1", "CLI_TEST_KEY": "c1c1" * 8}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        check=False,
        timeout=300,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    fill_persisted("src", tmp_path / "src.jsonl", district(pupils=10))
    MemoryConnector.reset()
    path = tmp_path / "ent-migrate.toml"
    path.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[source.a]\nspec = "memory:src"\npersist = "{tmp_path / "src.jsonl"}"\n'
        f'[target.b]\nspec = "memory:dst"\npersist = "{tmp_path / "dst.jsonl"}"\n'
        "[safety]\nmax_deletions = 3\n"
        '[privacy]\nkey = "${CLI_TEST_KEY}"\n[report]\ndir = "reports"\n'
    )
    return path


def test_commands_refuse_an_outdated_state_store_and_say_how_to_fix_it(config: Path) -> None:
    result = cli("-c", str(config), "plan")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_apply_verify_status_report(config: Path, tmp_path: Path) -> None:
    assert cli("-c", str(config), "db", "upgrade").returncode == 0
    plan = cli("-c", str(config), "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    actions = json.loads(plan.stdout)["actions"]
    n = sum(1 for _ in district(pupils=10))
    assert actions["create"] == n
    assert not (tmp_path / "dst.jsonl").exists(), "plan wrote to the target"
    applied = cli("-c", str(config), "apply", "--max-ops", "5", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["pending"] == n - 5
    assert cli("-c", str(config), "apply").returncode == 0
    verify = cli("-c", str(config), "verify", "--json")
    assert verify.returncode == 0, verify.stderr
    out = json.loads(verify.stdout)
    assert out["marks"] == {"=": n, "+": 0, "-": 0, "*": 0, "!": 0}
    report_dir = Path(out["report"]["dir"])
    assert (report_dir / "verify-report.html").exists()
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=report_dir, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout
    status = json.loads(cli("-c", str(config), "status", "--json").stdout)
    assert status["status"] == "done"
    assert status["stages"]["verify"]["status"] == "done"
    assert status["pending_operations"] == 0
    # the report can be written again, to another place, with the same content
    again = cli("-c", str(config), "report", out["run_id"], "--out", str(tmp_path / "again"), "--json")
    assert again.returncode == 0, again.stderr
    again_dir = Path(json.loads(again.stdout)["dir"])
    assert again_dir.is_relative_to(tmp_path / "again")
    first = json.loads((report_dir / "verify-report.json").read_text())
    second = json.loads((again_dir / "verify-report.json").read_text())
    assert first["counts"] == second["counts"]
    assert first["lists"] == second["lists"]
    # no personal data in any report file
    for path in [*report_dir.iterdir(), *again_dir.iterdir()]:
        text = path.read_text(encoding="utf-8-sig")
        for secret in ("Anaïs", "Le Goff", "N'Diaye", "0000000001A", "a@example.org"):
            assert secret not in text, (path.name, secret)


def test_verify_exit_1_lists_the_differences(config: Path, tmp_path: Path) -> None:
    assert cli("-c", str(config), "db", "upgrade").returncode == 0
    assert cli("-c", str(config), "run", "--yes").returncode == 0
    # someone deletes an account on the target behind our back
    lines = (tmp_path / "dst.jsonl").read_text().splitlines()
    victim = next(json.loads(line) for line in lines if '"kind": "person"' in line)
    with (tmp_path / "dst.jsonl").open("a") as fh:
        fh.write(json.dumps({"op": "delete", "kind": "person", "key": victim["record"]["id"]}) + "\n")
    verify = cli("-c", str(config), "verify", "--json")
    assert verify.returncode == 1
    out = json.loads(verify.stdout)
    assert out["marks"]["+"] == 1
    report = json.loads((Path(out["report"]["dir"]) / "verify-report.json").read_text())
    assert len(report["lists"]["+"]) == 1
    assert report["lists"]["+"][0]["id"].startswith("p:")


def test_threshold_exit_1_names_it_and_how_to_raise_it(config: Path, tmp_path: Path) -> None:
    assert cli("-c", str(config), "db", "upgrade").returncode == 0
    assert cli("-c", str(config), "run", "--yes").returncode == 0
    # the source loses every guardian (a truncated export): plan refuses
    src = tmp_path / "src.jsonl"
    with src.open("a") as fh:
        for i in range(10):
            fh.write(json.dumps({"op": "delete", "kind": "person", "key": f"g{i}"}) + "\n")
    result = cli("-c", str(config), "plan")
    assert result.returncode == 1
    assert "max_deletions = 3" in result.stderr
    assert "--max-deletions 10" in result.stderr
    assert "(19.6% of the 51 the target holds)" in result.stderr  # the share, said right
    # the default share limit (1%) stops it too, and says the smallest value that passes
    result = cli("-c", str(config), "plan", "--max-deletions", "10", "--json")
    assert result.returncode == 1
    refusal = json.loads(result.stdout)["refused"]
    assert (refusal["setting"], refusal["suggested"]) == ("max_deletions_pct", "19.7")
    assert refusal["counts"]["disable"] == 10
    assert len(refusal["would_remove"]) == 10
    assert all(r["id"].startswith("p:") for r in refusal["would_remove"])
    refused_report = json.loads((Path(refusal["report"]["dir"]) / "plan-report.json").read_text())
    assert refused_report["verdict"] == "refused"
    assert len(refused_report["lists"]["disable"]) == 10  # the refused plan still shows what it would do
    assert cli("-c", str(config), "plan", "--max-deletions", "10", "--max-deletions-pct", "19.7").returncode == 0


def test_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("--state", f"sqlite:///{tmp_path / 's.db'}", "plan")
    assert result.returncode == 2
    assert "--config" in result.stderr
