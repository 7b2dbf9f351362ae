"""``ent-migrate db upgrade|downgrade|current|check`` on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from ent_migrate.cli import app
from ent_migrate.state import STATE_ENV, head_revision

ENT_MIGRATE = str(Path(sys.executable).parent / "ent-migrate")


@pytest.fixture(autouse=True)
def _no_ambient_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_ENV, raising=False)
    monkeypatch.delenv("ENT_MIGRATE_CONFIG", raising=False)


def _db(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["--state", url, "db", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def test_upgrade_current_check_downgrade(state_url: str) -> None:
    code, before = _db(state_url, "check")
    assert code == 1
    assert before["current"] is None
    assert before["up_to_date"] is False
    assert "add_table runs" in before["differences"]

    code, up = _db(state_url, "upgrade")
    assert code == 0
    assert up == {
        "url": make_url(state_url).render_as_string(hide_password=True),
        "current": head_revision(),
        "head": head_revision(),
        "up_to_date": True,
        "differences": [],
    }

    assert _db(state_url, "current") == (0, up)
    assert _db(state_url, "check") == (0, up)

    code, down = _db(state_url, "downgrade", "base", "--yes")
    assert code == 0
    assert down["current"] is None
    assert _db(state_url, "check")[0] == 1
    code, again = _db(state_url, "upgrade", "--revision", "0001")
    assert (code, again["current"]) == (0, "0001")


def test_check_reports_a_hand_altered_table(state_url: str) -> None:
    assert _db(state_url, "upgrade")[0] == 0
    from ent_migrate.state import make_engine

    engine = make_engine(state_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE journal ADD COLUMN note TEXT")
    engine.dispose()
    code, status = _db(state_url, "check")
    assert code == 1
    assert status["up_to_date"] is True
    assert status["differences"] == ["remove_column journal.note"]


def test_human_output_names_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = CliRunner().invoke(app, ["--state", url, "db", "check"])
    assert result.exit_code == 1
    assert "db upgrade" in result.stdout
    assert "none (empty)" in result.stdout


def test_state_from_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(app, ["db", "upgrade", "--json"], env={STATE_ENV: url})
    assert result.exit_code == 0
    assert json.loads(result.stdout)["url"] == url
    assert (tmp_path / "env.db").is_file()


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENT_MIGRATE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_console_script_exit_codes_and_no_password(postgres_database: str, tmp_path: Path) -> None:
    # The test server trusts loopback, so a password in the URL is accepted and must never be printed.
    # It comes from the environment: on the command line (visible to `ps`) it is refused.
    parsed = make_url(postgres_database)
    with_password = parsed.set(password="s3cr3t-Pw").render_as_string(hide_password=False)
    plain = with_password.replace("postgresql+psycopg://", "postgresql://") + "?sslmode=disable&password=s3cr3t-Pw"
    refused = _run("--state", plain, "db", "current", cwd=tmp_path)
    assert refused.returncode == 2
    assert "literal password" in refused.stderr
    assert "s3cr3t" not in refused.stdout + refused.stderr
    env = {"ENT_MIGRATE_STATE": plain}

    current = _run("db", "current", "--json", cwd=tmp_path, env=env)
    assert current.returncode == 0, current.stderr
    assert json.loads(current.stdout)["current"] is None
    assert "s3cr3t" not in current.stdout + current.stderr

    unknown = _run("db", "upgrade", "--revision", "0999", cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert "0999" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    check = _run("db", "check", "--json", cwd=tmp_path, env=env)
    assert check.returncode == 1
    assert "s3cr3t" not in check.stdout + check.stderr

    up = _run("db", "upgrade", "--json", cwd=tmp_path, env=env)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["up_to_date"] is True
    assert json.loads(up.stdout)["url"].startswith("postgresql+psycopg://postgres:***@127.0.0.1:")
    assert json.loads(up.stdout)["url"].endswith("?password=***&sslmode=***")  # every query value masked
    assert "s3cr3t" not in up.stdout + up.stderr


def test_unreachable_postgres_exits_3_without_password(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _run(
        "db", "current", cwd=tmp_path, env={"ENT_MIGRATE_STATE": f"postgresql://ent:hunter2-pw@127.0.0.1:{port}/x"}
    )
    assert result.returncode == 3
    assert "cannot be opened" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_default_store_is_in_the_working_directory(tmp_path: Path) -> None:
    result = _run("db", "upgrade", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["url"] == f"sqlite:///{tmp_path.resolve() / 'ent-migrate.db'}"
    assert (tmp_path / "ent-migrate.db").is_file()
