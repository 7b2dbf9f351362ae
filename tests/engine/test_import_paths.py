"""The top-level folders of the checkout are parts of ent_migrate: one import path per file."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["connectors", "fixtures", "mappings", "migrations"])
def test_bare_name_import_is_refused(name: str) -> None:
    # In a fresh interpreter whose path has the checkout first, as a script run from it would.
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert f"import ent_migrate.{name}, not {name}" in done.stderr


@pytest.mark.parametrize("name", ["connectors", "fixtures", "mappings", "migrations"])
def test_the_package_path_works(name: str) -> None:
    assert importlib.import_module(f"ent_migrate.{name}").__name__ == f"ent_migrate.{name}"
