"""``make demo`` end to end (smaller): generate, plan, apply, verify all ``=``; its config re-runs, from
its folder and from a copy of the folder elsewhere (which has its own state store: the demo's config
named the first folder's, so a copy's runs wrote into the original's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_RUN = ("ent_migrate", "run", "-c", "demo-out/ent-migrate.toml", "--yes", "--json")


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m *args`` in *cwd*, without progress bars (the demo's and ent-migrate's runs alike)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1"},
        check=False,
        timeout=600,
    )


@pytest.mark.slow
def test_demo_migrates_and_verifies_and_its_config_reruns(tmp_path: Path) -> None:
    demo = _python(tmp_path, "ent_migrate.demo", "--accounts", "300", "--out", "demo-out")
    assert demo.returncode == 0, demo.stderr
    out = tmp_path / "demo-out"
    verify = json.loads((out / "verify.json").read_text())
    assert verify["marks"]["="] > 300
    assert sum(n for mark, n in verify["marks"].items() if mark != "=") == 0
    assert Path(verify["report"]["dir"], "verify-report.html").exists()
    assert "HTML report:" in demo.stdout
    rerun = _python(tmp_path, *_RUN)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    assert again["plan"]["actions"]["skip"] == verify["marks"]["="]
    assert again["apply"]["sent"] == 0
    assert oct((out / "pseudonym.key").stat().st_mode & 0o777) == "0o600"
    # A copy of the folder elsewhere, the original gone: the copy's state store carries the run on.
    shutil.copytree(out, tmp_path / "elsewhere" / "demo-out")
    shutil.rmtree(out)
    moved = _python(tmp_path / "elsewhere", *_RUN)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["plan"]["actions"]["skip"] == verify["marks"]["="]
    assert not out.exists()
