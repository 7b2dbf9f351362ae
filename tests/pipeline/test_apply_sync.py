"""apply and the target's ``sync``: a write is journaled done only once the target made it durable.

The package target acknowledges a write once its log line is flushed, and fsyncs its logs in
``sync``, once per group of writes. If apply journaled a write done before that sync, a machine crash
(not a kill: the page cache survives a kill) would lose a write the resumed apply never sends again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.connectors.package.writer import PackageDirectory
from ent_migrate.contract import Operation
from ent_migrate.outcomes import JournalStatus
from ent_migrate.pipeline import do_plan
from ent_migrate.pipeline.apply import apply
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import context, district, fill


def test_no_write_is_journaled_done_before_the_target_synced_it(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district(pupils=60))
    (tmp_path / "pkg").mkdir()
    ctx = context(tmp_path, target=f"package:{tmp_path / 'pkg'}")
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    target: Any = ctx.target
    real_write, real_sync = target.write, target.sync
    seen = {"writes": 0, "synced": 0, "syncs": 0}

    def done() -> int:
        return ctx.state.journal.counts(run_id).get(str(JournalStatus.DONE), 0)

    def write(op: Operation, blob: IO[bytes] | None = None) -> None:
        # Checked before each write: what the journal calls done was all synced.
        assert done() <= seen["synced"]
        real_write(op, blob)
        seen["writes"] += 1

    def sync() -> None:
        real_sync()
        seen["synced"], seen["syncs"] = seen["writes"], seen["syncs"] + 1

    target.write, target.sync = write, sync
    result = apply(ctx, run_id)
    assert result.failed == 0
    assert result.done == seen["writes"] == done() > 100
    assert seen["synced"] == seen["writes"]
    # Grouped: one sync per journaled group of outcomes, not one per write.
    assert seen["syncs"] <= seen["writes"] // 10


def test_a_package_log_is_fsynced_by_sync_not_by_each_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Observing fsync is the only way to see durability against a machine crash short of pulling a plug.
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    records = [r for r, _ in district(pupils=3) if r.kind in ("person", "group")]
    directory = PackageDirectory(tmp_path / "pkg")
    for record in records:
        directory.put(record, None)
    logs = {kind: handle.fileno() for kind, handle in directory._logs.items()}
    assert set(logs) == {"person", "group"}
    before = len(synced)
    directory.put(records[-1], None)  # written again: one more line
    assert not set(synced[before:]) & set(logs.values())  # a write flushes, never fsyncs its log
    directory.sync()
    assert sorted(set(synced[before:]) & set(logs.values())) == sorted(logs.values())  # each log once
    before = len(synced)
    directory.sync()
    assert synced[before:] == []  # nothing written since: nothing to fsync
    # What was flushed is all there for a reader, synced or not.
    lines = (tmp_path / "pkg" / ".ent-migrate" / "log" / f"{records[-1].kind}.jsonl.log").read_bytes().count(b"\n")
    assert lines == sum(1 for r in records if r.kind == records[-1].kind) + 1
    directory.close()
