"""`make demo-promotion` runs end to end without any server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_promotion_runs_end_to_end(tmp_path: Path) -> None:
    got = subprocess.run(
        [sys.executable, "-m", "ent_migrate.promotion.demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    report = json.loads((tmp_path / "demo-promotion-out" / "promotion-out" / "rapport-promotion.json").read_text())
    states = {e["etat"] for c in report["colleges"].values() for e in c["eleves"]}
    assert "primary_deleted" in states
    assert "OnCalendar=" in got.stdout
