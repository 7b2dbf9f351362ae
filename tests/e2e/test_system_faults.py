"""System faults are messages, not tracebacks, and a re-run after the fix ends as an uninterrupted run:
a full disk under the target or under the state store, made real with a small tmpfs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

KEY = "fa17" * 8
ENV = {**os.environ, "CI": "1", "FAULT_KEY": KEY}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args], capture_output=True, text=True, env=ENV, check=False, timeout=300
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, grown later with remount (mounting needs root, as the tests run in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI and the developers' machines run as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _grow(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], check=True)


def _district(tmp_path: Path) -> Path:
    out = tmp_path / "vendor-a"
    done = cli("fixtures", "generate", "-n", "300", "--seed", "3", "-o", str(out))  # ~3 MB of mail and documents
    assert done.returncode == 0, done.stderr
    return out


def _config(tmp_path: Path, state: Path, target: Path, source: Path) -> Path:
    path = tmp_path / "ent-migrate.toml"
    path.write_text(
        f'[state]\nurl = "sqlite:///{state}"\n[source.a]\nspec = "package:{source}"\n'
        f'[target.b]\nspec = "package:{target}"\n[privacy]\nkey = "${{FAULT_KEY}}"\n'
        f'[report]\ndir = "{tmp_path / "reports"}"\n'
    )
    return path


def _verify(path: Path) -> dict[str, int]:
    done = cli("-c", str(path), "verify", "--json")
    assert done.returncode == 0, done.stderr
    marks: dict[str, int] = json.loads(done.stdout)["marks"]
    return marks


def test_a_full_disk_under_the_target_is_a_message_and_a_rerun_finishes(tmp_path: Path, small_disk: Path) -> None:
    source = _district(tmp_path)
    target = small_disk / "vendor-b"
    target.mkdir()
    config = _config(tmp_path, tmp_path / "state.db", target, source)
    assert cli("-c", str(config), "db", "upgrade").returncode == 0
    full = cli("-c", str(config), "run", "--yes")
    assert full.returncode == 2, full.stderr
    assert "no space left on the device" in full.stderr
    assert "run the same command again" in full.stderr
    assert "Traceback" not in full.stderr
    _grow(small_disk)
    again = cli("-c", str(config), "run", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    marks = _verify(config)
    assert set(marks) == {"=", "+", "-", "*", "!"}
    assert marks["="] > 0
    assert all(n == 0 for m, n in marks.items() if m != "=")


def test_a_full_disk_under_the_state_store_is_a_message(tmp_path: Path, small_disk: Path) -> None:
    source = _district(tmp_path)
    (tmp_path / "vendor-b").mkdir()
    config = _config(tmp_path, small_disk / "state.db", tmp_path / "vendor-b", source)
    assert cli("-c", str(config), "db", "upgrade").returncode == 0
    full = cli("-c", str(config), "run", "--yes")
    assert full.returncode == 2, full.stderr
    assert "disk is full" in full.stderr or "no space left" in full.stderr
    assert "Traceback" not in full.stderr
    _grow(small_disk)
    assert cli("-c", str(config), "run", "--yes").returncode == 0
    marks = _verify(config)
    assert marks["="] > 0
    assert all(n == 0 for m, n in marks.items() if m != "=")


def test_a_reports_folder_not_writable_is_a_message_and_a_rerun_finishes(tmp_path: Path, small_disk: Path) -> None:
    """Root ignores file modes, so "not writable" is made real with a read-only mount."""
    source = _district(tmp_path)
    (tmp_path / "vendor-b").mkdir()
    config = _config(tmp_path, tmp_path / "state.db", tmp_path / "vendor-b", source)
    config.write_text(config.read_text().replace(f'dir = "{tmp_path / "reports"}"', f'dir = "{small_disk}"'))
    assert cli("-c", str(config), "db", "upgrade").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    refused = cli("-c", str(config), "plan")
    assert refused.returncode == 2, refused.stderr
    assert "permission denied" in refused.stderr
    assert str(small_disk) in refused.stderr
    assert "Traceback" not in refused.stderr
    subprocess.run(["mount", "-o", "remount,rw,size=256m", str(small_disk)], check=True)
    assert cli("-c", str(config), "run", "--yes").returncode == 0
    marks = _verify(config)
    assert marks["="] > 0
    assert all(n == 0 for m, n in marks.items() if m != "=")
