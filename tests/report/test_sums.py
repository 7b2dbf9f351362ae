"""SHA256SUMS checked by the real sha256sum, the digest, byte-identical rewrites, atomic replacement."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportItem, write_reports
from tests.report._helpers import make_data, verify_items


def _check(out_dir: Path) -> subprocess.CompletedProcess[str]:
    # The real coreutils binary, not a re-implementation: the manifest must satisfy the tool people use.
    return subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out_dir, capture_output=True, text=True, check=False)


def test_sha256sum_accepts_the_manifest(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    write_reports(make_data(verify_items()), tmp_path, pseudo)
    result = _check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "verify-report.csv: OK",
        "verify-report.html: OK",
        "verify-report.json: OK",
    ]


@pytest.mark.parametrize("name", ["verify-report.json", "verify-report.csv", "verify-report.html"])
def test_sha256sum_rejects_a_tampered_byte(tmp_path: Path, pseudo: Pseudonymizer, name: str) -> None:
    write_reports(make_data(verify_items()), tmp_path, pseudo)
    target = tmp_path / name
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    result = _check(tmp_path)
    assert result.returncode != 0
    assert f"{name}: FAILED" in result.stdout


def test_manifest_format_and_digest(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    written = write_reports(make_data(verify_items()), tmp_path, pseudo)
    lines = (tmp_path / "SHA256SUMS").read_text("ascii").splitlines(keepends=True)
    names = ["verify-report.csv", "verify-report.html", "verify-report.json"]
    assert lines == [f"{hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()}  {n}\n" for n in names]
    assert written.digest == hashlib.sha256((tmp_path / "SHA256SUMS").read_bytes()).hexdigest()


def test_same_data_gives_identical_bytes(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    first = write_reports(make_data(verify_items()), tmp_path / "a", pseudo)
    second = write_reports(make_data(verify_items()), tmp_path / "b", pseudo)
    assert first.digest == second.digest
    for a, b in zip(first.paths, second.paths, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    # Rewriting in place replaces the files and changes nothing either.
    third = write_reports(make_data(verify_items()), tmp_path / "a", pseudo)
    assert third.digest == first.digest
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first.paths)


def test_other_key_or_data_gives_another_digest(tmp_path: Path) -> None:
    base = write_reports(make_data(verify_items()), tmp_path / "a", Pseudonymizer(b"k1".ljust(16, b".")))
    other_key = write_reports(make_data(verify_items()), tmp_path / "b", Pseudonymizer(b"k2".ljust(16, b".")))
    other_time = write_reports(
        make_data(verify_items(), created_at="2026-11-25T10:00:01Z"),
        tmp_path / "c",
        Pseudonymizer(b"k1".ljust(16, b".")),
    )
    assert len({base.digest, other_key.digest, other_time.digest}) == 3


def test_a_failing_stream_leaves_the_previous_report_and_no_temp_files(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    before = write_reports(make_data(verify_items()), tmp_path, pseudo)
    snapshot = {p.name: p.read_bytes() for p in before.paths}

    def broken() -> Iterator[ReportItem]:
        yield ReportItem("person", "k", "+")
        raise OSError("source went away")

    data = make_data(verify_items())
    data.items = broken()
    with pytest.raises(OSError, match="source went away"):
        write_reports(data, tmp_path, pseudo)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot


def test_files_are_private_to_the_owner(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    written = write_reports(make_data(verify_items()), tmp_path, pseudo)
    assert {p.stat().st_mode & 0o777 for p in written.paths} == {0o600}
