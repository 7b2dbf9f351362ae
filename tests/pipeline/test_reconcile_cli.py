"""review export → import → replay, merge undo and logins export, as a user types them."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Person, Profile, Record
from tests.pipeline._helpers import UAI, district, fill_persisted

ENV = {**os.environ, "CI": "1", "CLI_TEST_KEY": "c1c1" * 8}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args], capture_output=True, text=True, env=ENV, check=False, timeout=300
    )


def memory_config(tmp_path: Path, records: list[tuple[Record, bytes | None]]) -> Path:
    """A config whose source is *records* (a persisted memory connector) and whose target is empty."""
    fill_persisted("src", tmp_path / "src.jsonl", iter(records))
    MemoryConnector.reset()
    config = tmp_path / "ent-migrate.toml"
    config.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[source.a]\nspec = "memory:src"\npersist = "{tmp_path / "src.jsonl"}"\n'
        f'[target.b]\nspec = "memory:dst"\npersist = "{tmp_path / "dst.jsonl"}"\n'
        '[privacy]\nkey = "${CLI_TEST_KEY}"\n[report]\ndir = "reports"\n'
    )
    return config


def test_review_round_trip_merge_undo_and_logins(tmp_path: Path) -> None:
    clash = Person(
        id="clash-p1",
        profile=Profile.STUDENT,
        last_name="Martin",
        first_name="Hugo",
        birth_date=dt.date(2013, 5, 5),
        ine="0000000001A",
        structures=(UAI,),
    )
    config = memory_config(tmp_path, [*district(pupils=3), (clash, None)])
    c = ("-c", str(config))
    assert cli(*c, "db", "upgrade").returncode == 0
    assert (r := cli(*c, "plan", "--json")).returncode == 0, r.stderr
    status = json.loads(cli(*c, "status", "--json").stdout)
    assert status["review_queue"] == 1
    # every profile is there, zeros included: 4 pupils (3 + the clash), 3 guardians, 1 teacher
    assert status["identities"] == {"student": 4, "guardian": 3, "teacher": 1, "staff": 0}
    out = tmp_path / "review.csv"
    assert (r := cli(*c, "review", "export", str(out))).returncode == 0, r.stderr
    text = out.read_text()
    assert "Martin" not in text
    assert "0000000001A" not in text
    assert "clash-p1" not in text
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 1
    assert rows[0]["reason"] == "ine_conflict"
    assert "ine" in rows[0]["matched"].split()

    # a bad decision is named by file and line
    bad = tmp_path / "bad.csv"
    rows[0]["decision"] = "maybe"
    with bad.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerow(rows[0])
    r = cli(*c, "review", "import", str(bad))
    assert r.returncode == 2
    assert f"{bad}:2:" in r.stderr

    rows[0]["decision"] = "merge"
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerow(rows[0])
    assert (r := cli(*c, "review", "import", str(out))).returncode == 0, r.stderr
    assert json.loads(cli(*c, "status", "--json").stdout)["review_queue"] == 0
    merges = json.loads(cli(*c, "merge", "list", "--json").stdout)
    assert len(merges) == 1
    assert not merges[0]["undone"]
    assert cli(*c, "merge", "undo", str(merges[0]["id"])).returncode == 0
    assert json.loads(cli(*c, "merge", "list", "--json").stdout)[0]["undone"]
    again = cli(*c, "merge", "undo", str(merges[0]["id"]))
    assert again.returncode == 2
    assert "already undone" in again.stderr

    logins = tmp_path / "logins.csv"
    assert (r := cli(*c, "logins", "export", str(logins))).returncode == 0, r.stderr
    lines = logins.read_text().splitlines()
    assert lines[0] == "source,old_id,old_login,new_login"
    assert len(lines) > 1
