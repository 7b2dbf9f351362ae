"""Encryption at rest: with [state] encryption_key the records in the state store are sealed (AES-GCM);
the migration works as before, the file holds no name, and a missing or wrong key is a clear message."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from tests.pipeline._helpers import district, fill_persisted

ENV = {**os.environ, "CI": "1", "ENC_REPORT_KEY": "ab" * 16, "ENC_STATE_KEY": "cd" * 32}
NAMES = ("Anaïs", "Le Goff", "N'Diaye", "0000000001A")


def cli(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        check=False,
        timeout=300,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    fill_persisted("src", tmp_path / "src.jsonl", district(pupils=6))
    MemoryConnector.reset()
    path = tmp_path / "ent-migrate.toml"
    path.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\nencryption_key = "${{ENC_STATE_KEY}}"\n'
        f'[source.a]\nspec = "memory:src"\npersist = "{tmp_path / "src.jsonl"}"\n'
        f'[target.b]\nspec = "memory:dst"\npersist = "{tmp_path / "dst.jsonl"}"\n'
        '[privacy]\nkey = "${ENC_REPORT_KEY}"\n[report]\ndir = "reports"\n'
    )
    assert cli(path, "db", "upgrade").returncode == 0
    return path


def _stored_payloads(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT payload FROM items WHERE payload IS NOT NULL")]


def test_records_are_sealed_and_the_migration_is_unchanged(config: Path, tmp_path: Path) -> None:
    run = cli(config, "run", "--yes", "--json")
    assert run.returncode == 0, run.stderr
    marks = json.loads(run.stdout)["verify"]["marks"]
    assert marks["="] > 0
    assert not any(n for m, n in marks.items() if m != "=")
    stored = _stored_payloads(tmp_path / "state.db")
    assert stored
    assert all(json.loads(v)["enc"].startswith("v1:") for v in stored)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    for name in NAMES:
        assert name.encode() not in raw, name
    # a second run decrypts what the first sealed: nothing to send
    again = cli(config, "run", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["apply"]["sent"] == 0


def test_a_missing_or_wrong_key_is_a_message(config: Path) -> None:
    assert cli(config, "plan").returncode == 0
    wrong = cli(config, "report", "--kind", "plan", env={**ENV, "ENC_STATE_KEY": "ef" * 32})
    assert wrong.returncode == 2
    assert "encrypted with another key" in wrong.stderr
    text = config.read_text().replace('encryption_key = "${ENC_STATE_KEY}"\n', "")
    config.write_text(text)
    missing = cli(config, "report", "--kind", "plan")
    assert missing.returncode == 2
    assert "records are encrypted: set [state] encryption_key" in missing.stderr
    assert "Traceback" not in missing.stderr + wrong.stderr


def test_a_literal_state_key_is_refused(config: Path) -> None:
    config.write_text(config.read_text().replace('"${ENC_STATE_KEY}"', '"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"'))
    done = cli(config, "plan")
    assert done.returncode == 2
    assert "holds a literal secret" in done.stderr
