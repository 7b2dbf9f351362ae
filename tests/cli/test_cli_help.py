"""--help texts as users read them: config section names kept (not eaten as markup), flags without types."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _help(*command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ent_migrate", *command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.mark.parametrize("command", [("run",), ("plan",), ("apply",)])
def test_section_names_survive_and_flags_show_no_type(command: tuple[str, ...]) -> None:
    text = _help(*command)
    assert "[source.NAME]" in text
    assert "[safety] max_deletions" in text
    for line in text.splitlines():
        if "--json" in line or "--yes" in line:
            assert "<bool>" not in line, line


def test_exit_codes_and_safety_defaults_are_in_the_help() -> None:
    top = _help()
    assert "4 interrupted" in top
    assert "default 50" in _help("plan")
    assert "default 1.0" in _help("plan")
