"""``ent-migrate connectors list|about|check`` and the global help, through a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ent_migrate.cli._common import EXIT_CODES
from ent_migrate.contract import Capability


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ent_migrate ARGS`` with a wide, colourless terminal so output is stable."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("ENT_MIGRATE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_list_json_describes_memory() -> None:
    done = run("connectors", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["connectors"]}
    memory = rows["memory"]
    assert memory["roles"] == ["source", "target"]
    assert memory["capabilities"] == sorted(str(c) for c in Capability)
    assert memory["entry_point"] == "ent_migrate.connectors.memory:MemoryConnector"
    assert memory["distribution"] == "ent-migrate"


def test_about_memory() -> None:
    done = run("connectors", "about", "memory", "--json")
    assert done.returncode == 0, done.stderr
    about = json.loads(done.stdout)
    assert about["name"] == "memory"
    assert about["location"].startswith("memory:")
    options = {o["name"]: o for o in about["options"]}  # the options are documented where users look
    assert options["fail_on_write"]["type"] == "true/false"
    assert options["fail_on_write"]["default"] is False
    assert "never writes" in options["fail_on_write"]["help"]
    human = run("connectors", "about", "memory")
    assert human.returncode == 0
    assert "capabilities: " in human.stdout
    assert "read-back" in human.stdout
    assert "transient_error" in human.stdout  # a table of options...
    assert "mappingproxy" not in human.stdout
    assert "{'" not in human.stdout


def test_check_memory_is_ok() -> None:
    done = run("connectors", "check", "memory:", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reachable"] is True
    assert result["capabilities"] == {str(c): True for c in Capability}


def test_check_an_unknown_connector_is_a_usage_error() -> None:
    done = run("connectors", "check", "nosuch:x")
    assert done.returncode == 2
    assert "no connector named 'nosuch'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_help_lists_commands_and_exit_codes() -> None:
    done = run("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "connectors" in text
    assert "Exit codes:" in text
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in text


def test_a_literal_secret_in_the_config_is_exit_2_without_traceback(tmp_path: Path) -> None:
    secret = "hunter2-Not-For-Logs"
    config = tmp_path / "ent-migrate.toml"
    config.write_text(f'[target.ent]\nspec = "memory:"\npassword = "{secret}"\n', encoding="utf-8")
    done = run("--config", str(config), "connectors", "check", "memory:")
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert secret not in output
    assert "holds a literal secret" in " ".join(output.split())


@pytest.mark.parametrize(
    "spec",
    ["rest:https://ent:hunter2-Not-For-Logs@127.0.0.1:9/api", "rest:https://127.0.0.1:9/?token=hunter2-Not-For-Logs"],
)
def test_check_refuses_a_secret_in_the_spec_without_echoing_it(spec: str) -> None:
    """The spec is echoed in the result: one holding a password is refused first, as in a section."""
    done = run("connectors", "check", spec, "--json")
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "hunter2-Not-For-Logs" not in output
    assert "Traceback" not in output
    assert "connector's options" in " ".join(output.split())


@pytest.mark.parametrize("args", [["connectors", "about", "nosuch"], ["connectors", "check", "no-colon"]])
def test_bad_names_and_specs_are_exit_2(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
