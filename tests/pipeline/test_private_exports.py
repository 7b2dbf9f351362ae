"""The files that name people on purpose (login letters' map, review queue) are the owner's only,
written whole, formula-safe; a device given as the review file is refused at once, not read for ever."""

from __future__ import annotations

import csv
import stat
import subprocess
import sys
from pathlib import Path

from ent_migrate.model import Person, Profile
from tests.pipeline._helpers import UAI, district
from tests.pipeline.test_reconcile_cli import ENV, memory_config


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args], capture_output=True, text=True, env=ENV, check=False, timeout=120
    )


def _planned(tmp_path: Path) -> tuple[str, str]:
    # a vendor's id that a spreadsheet would run as a formula
    hostile = Person(id="=HYPERLINK(1)", profile=Profile.STAFF, last_name="Roux", first_name="Ana", structures=(UAI,))
    config = memory_config(tmp_path, [*district(pupils=2), (hostile, None)])
    assert _cli("-c", str(config), "db", "upgrade").returncode == 0
    assert (r := _cli("-c", str(config), "plan", "--json")).returncode == 0, r.stderr
    return "-c", str(config)


def test_logins_and_review_exports_are_private_and_formula_safe(tmp_path: Path) -> None:
    c = _planned(tmp_path)
    logins, review = tmp_path / "logins.csv", tmp_path / "review.csv"
    assert (r := _cli(*c, "logins", "export", str(logins))).returncode == 0, r.stderr
    assert (r := _cli(*c, "review", "export", str(review))).returncode == 0, r.stderr
    for path in (logins, review):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = list(csv.DictReader(logins.read_text(encoding="utf-8").splitlines()))
    people = sum(isinstance(record, Person) for record, _ in district(pupils=2)) + 1
    assert len(rows) == people  # every person of the source, the hostile one included
    assert "'=HYPERLINK(1)" in {row["old_id"] for row in rows}
    assert not any(v.startswith("=") for row in rows for v in row.values())


def test_a_folder_or_a_device_is_refused_with_a_message(tmp_path: Path) -> None:
    c = _planned(tmp_path)
    folder = _cli(*c, "logins", "export", str(tmp_path))
    assert folder.returncode == 2
    assert "is a folder" in folder.stderr
    device = _cli(*c, "review", "import", "/dev/zero")  # used to read until memory ran out
    assert device.returncode == 2
    assert "not a regular file" in device.stderr
    assert "Traceback" not in device.stderr + folder.stderr
