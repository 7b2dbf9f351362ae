"""Crash safety of the package target: torn log lines, interrupted compaction, SIGKILL then re-run."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ent_migrate.connectors.package import PackageConnector
from ent_migrate.connectors.package.writer import PackageDirectory
from ent_migrate.contract import Action, Operation, Role
from ent_migrate.errors import InputError
from tests.connectors.package.helpers import CREATED_AT, Item, district, expected, many, read_back, tree_bytes, write

REPO = Path(__file__).resolve().parents[3]


def _write_without_closing(items: list[Item], location: Path) -> None:
    connector = PackageConnector(str(location), {"created_at": CREATED_AT})
    for record, blob in items:
        connector.write(
            Operation(f"op-{record.key}", Action.CREATE, record.kind, record.key, record),
            io.BytesIO(blob) if blob is not None else None,
        )
    connector.close()  # as a kill would leave it: logs, no compaction (close never finishes)


def test_torn_last_log_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    items = district()
    reference = tmp_path / "reference"
    write(items, reference)
    target = tmp_path / "target"
    _write_without_closing(items[:6], target)
    log = target / ".ent-migrate" / "log" / "person.jsonl.log"
    with log.open("ab") as handle:
        handle.write(b'{"op":"put","line":"{\\"kind\\":\\"person\\",\\"id\\":\\"half')  # torn: no newline
    # a read sees every complete write, and not the torn one
    prints, _ = read_back(target)
    assert prints == expected(items[:6])[0]
    # a resumed run that writes after a torn line (not compacted in between) ends as an uninterrupted run
    _write_without_closing(items[:6], target / "again")
    log2 = target / "again" / ".ent-migrate" / "log" / "person.jsonl.log"
    with log2.open("ab") as handle:
        handle.write(b'{"op":"put","li')
    write(items, target / "again")
    assert tree_bytes(target / "again") == tree_bytes(reference)


def test_a_corrupt_complete_log_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    target = tmp_path / "target"
    _write_without_closing(district()[:4], target)
    log = target / ".ent-migrate" / "log" / "person.jsonl.log"
    with log.open("ab") as handle:
        handle.write(b"garbage\n")
    with pytest.raises(InputError, match=r"person\.jsonl\.log:4: unreadable log line"):
        read_back(target)


def test_interrupted_compaction_is_finished_by_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = district()
    reference = tmp_path / "reference"
    write(items, reference)
    target = tmp_path / "target"
    _write_without_closing(items, target)

    def crash(self: PackageDirectory, *args: object) -> None:
        raise KeyboardInterrupt("killed during compaction")

    # A fault a real disk cannot be made to produce on demand: stop compaction after the records
    # files were replaced and the logs removed, before the manifest.
    monkeypatch.setattr(PackageDirectory, "_write_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        PackageConnector(str(target), {"created_at": CREATED_AT}, role=Role.TARGET).finish()
    monkeypatch.undo()
    assert (target / ".ent-migrate").exists()  # still marked unfinished
    PackageConnector(str(target), {"created_at": CREATED_AT}, role=Role.TARGET).finish()
    assert tree_bytes(target) == tree_bytes(reference)


_CHILD = """
import sys
from pathlib import Path
from tests.connectors.package.helpers import many, write
write(many(int(sys.argv[2])), Path(sys.argv[1]), durable=True)
"""


@pytest.mark.parametrize("name", ["pkg", "pkg.zip"])
def test_sigkill_then_rerun_ends_exactly_as_an_uninterrupted_run(tmp_path: Path, name: str) -> None:
    count = 20
    items = many(count)
    reference = tmp_path / "reference" / name
    write(items, reference)
    rng = random.Random(name)
    killed = 0
    for attempt in range(3):
        location = tmp_path / f"run{attempt}" / name
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(location), str(count)], cwd=REPO)
        work = (location.with_name(name + ".work") if name.endswith(".zip") else location) / ".ent-migrate"
        deadline = time.monotonic() + 30
        while not work.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.2))  # somewhere in the writes, or in the final compaction
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            killed += 1
        child.wait()
        write(items, location)  # the re-run (its own durability is the child's, tested here)
        if name.endswith(".zip"):
            assert location.read_bytes() == reference.read_bytes()
        else:
            assert tree_bytes(location) == tree_bytes(reference)
        assert read_back(location) == expected(items)
    assert killed >= 1  # at least one run really was interrupted


def test_manifest_lists_what_the_folder_holds_after_rerun(tmp_path: Path) -> None:
    items = many(3)
    target = tmp_path / "pkg"
    _write_without_closing(items, target)
    write(items, target)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert [item["path"] for item in manifest["files"]] == sorted(p for p in tree_bytes(target) if p != "manifest.json")


def test_an_aborted_zip_target_is_never_packed(tmp_path: Path) -> None:
    """Leaving the target on an error (a Ctrl-C during apply) leaves the work folder, never a zip."""
    target = tmp_path / "out.zip"
    items = many(20)

    def interrupted_apply() -> None:
        with PackageConnector(str(target), {"created_at": CREATED_AT}) as connector:
            for record, blob in items[:10]:
                op = Operation(f"op-{record.key}", Action.CREATE, record.kind, record.key, record)
                connector.write(op, io.BytesIO(blob) if blob is not None else None)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_apply()
    assert not target.exists()
    assert (tmp_path / "out.zip.work" / ".ent-migrate").exists()
    write(items, target)  # the same writes again, then finished: one complete package
    assert read_back(target) == expected(items)
