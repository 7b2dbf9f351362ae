"""The built wheel works on its own: connectors, mappings and migrations ship *inside* ``ent_migrate``.

The wheel is built from a copy of the checkout (so the build never writes into the shared working tree),
installed with its dependencies into a fresh virtualenv (no system site-packages, no checkout on the path),
and driven from a directory outside the checkout. Dependencies come from a wheelhouse kept in pytest's
cache: the first run fills it from the package index, later runs install offline from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from ent_migrate.state import head_revision

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MAPPED = ("connectors", "migrations", "mappings", "fixtures")  # top-level folders installed under ent_migrate
_SKIP_COPY = shutil.ignore_patterns(
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "demo-out",
    "*.db",
    "*.db-wal",
    "*.db-shm",
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    source: Path  # the copy the wheel was built from (the shared checkout may change meanwhile)
    venv: Path
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ENT_MIGRATE_", "PYTHON", "VIRTUAL_ENV"))}
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source, dist, venv, workdir = root / "src", root / "dist", root / "venv", root / "work"
    shutil.copytree(REPO, source, ignore=_SKIP_COPY)
    built = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source))
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("ent_migrate-*.whl")

    # A fresh venv without pip of its own: the outer pip installs into it (--python), which saves the
    # ensurepip step. No --system-site-packages: the wheel must bring every dependency it needs.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # absent under -p no:cacheprovider: then the wheelhouse lives for this run only
    cache = getattr(pytestconfig, "cache", None)
    wheelhouse = cache.mkdir("ent-migrate-wheelhouse") if cache is not None else root / "wheelhouse"
    install = (
        "--python",
        str(venv / "bin" / "python"),
        "install",
        "-q",
        "--no-compile",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        str(wheel),
    )
    result = _pip(*install)
    if result.returncode != 0:  # first run, or the dependencies changed: fill the wheelhouse, then retry
        # `pip wheel`, not `download`: a dependency shipped only as source (python-ldap) is built into a wheel
        # here, so the offline install below needs no build tools of its own.
        fill = _pip("wheel", "-q", "-w", str(wheelhouse), str(wheel))
        assert fill.returncode == 0, fill.stderr
        result = _pip(*install)
    assert result.returncode == 0, result.stderr
    workdir.mkdir()
    return Installed(wheel, source, venv, workdir)


def test_wheel_ships_mapped_folders_inside_the_package(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for required in (
        "ent_migrate/connectors/memory/__init__.py",
        "ent_migrate/migrations/env.py",
        "ent_migrate/migrations/script.py.mako",
        "ent_migrate/migrations/versions/0001_initial.py",
    ):
        assert required in names
    assert any(n.startswith("ent_migrate/mappings/") for n in names)
    # No generic top-level package that would clash with other distributions.
    assert {n.split("/", 1)[0] for n in names} == {"ent_migrate", "ent_migrate-0.1.0.dist-info"}
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(installed.wheel).read(top_level).decode().split() == ["ent_migrate"]
    # Every file of the mapped folders reaches the wheel (a subfolder without __init__.py, or a data file
    # type missing from package-data, would be silently left out).
    for folder in MAPPED:
        for path in (installed.source / folder).rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                assert f"ent_migrate/{path.relative_to(installed.source).as_posix()}" in names, path


def test_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    probe = installed.run(
        "python",
        "-c",
        (
            "import importlib.util, ent_migrate; print(ent_migrate.__file__); "
            "print(importlib.util.find_spec('connectors'), importlib.util.find_spec('migrations'))"
        ),
    )
    assert probe.returncode == 0, probe.stderr
    where, specs = probe.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(installed.venv.resolve())
    assert specs == "None None"


def test_db_upgrade_and_current_from_the_wheel(installed: Installed) -> None:
    url = f"sqlite:///{installed.workdir / 's.db'}"
    up = installed.run("ent-migrate", "--state", url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    current = installed.run("ent-migrate", "--state", url, "db", "current", "--json")
    assert current.returncode == 0, current.stderr
    status = json.loads(current.stdout)
    # the wheel ships every revision of the checkout it was built from, head included
    assert status["current"] == status["head"] == head_revision()
    assert status["up_to_date"] is True
    assert status["differences"] == []


def test_connectors_registered_from_the_wheel(installed: Installed) -> None:
    listed = installed.run("ent-migrate", "connectors", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {c["name"] for c in json.loads(listed.stdout)["connectors"]}
    assert "memory" in names  # others register too, later: never the full list here
