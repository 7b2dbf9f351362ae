"""A report read in a forked child (ent_migrate.pipeline._forked): the same bytes as one read here, and
the child's failures are the parent's errors, with no report left half-written."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

import ent_migrate.pipeline.reports as reports
import ent_migrate.report.writers as writers
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.errors import ReaderProcessError
from ent_migrate.pipeline import PipelineContext, do_plan
from ent_migrate.pipeline.reports import write_run_report
from ent_migrate.pipeline.runner import open_run
from ent_migrate.state import make_engine, upgrade
from tests.pipeline._helpers import context, district, fill


def _planned(tmp_path: Path, db: Engine | None = None) -> tuple[PipelineContext, str]:
    fill(MemoryConnector.named_store("src"), district(pupils=40))
    ctx = context(tmp_path, db=db)
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    return ctx, run_id


def _report(ctx: PipelineContext, run_id: str, folder: Path) -> Path:
    _, written = write_run_report(
        ctx.state, run_id, "plan", folder, ctx.pseudonymize, safety=ctx.safety, weights=ctx.mapping.weights
    )
    return written


def _files(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {p.name: p.read_bytes() for p in folder.iterdir()}
    document = json.loads(out.pop("plan-report.json"))
    stamp = document.pop("created_at")  # the only thing two writes of one plan differ by
    out["plan-report.json"] = document
    out["plan-report.html"] = out["plan-report.html"].replace(stamp.encode(), b"")
    del out["SHA256SUMS"]  # hashes the stamped files
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_report_read_in_a_child_is_the_report_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, backend: str
) -> None:
    db = None
    if backend == "postgresql":  # the child's own connection; the parent's stay usable after it
        db = make_engine(request.getfixturevalue("postgres_database"))
        upgrade(db)
        request.addfinalizer(db.dispose)
    ctx, run_id = _planned(tmp_path, db)
    here = _files(_report(ctx, run_id, tmp_path / "here"))
    people = reports._people

    def _people_noting_the_reader(*args: Any, **kw: Any) -> Any:
        # Written to a file: a list appended to in the child stays the child's.
        with (tmp_path / "readers").open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return people(*args, **kw)

    monkeypatch.setattr(reports, "_people", _people_noting_the_reader)
    monkeypatch.setattr(reports, "FORK_MIN_ROWS", 1)
    forked = _files(_report(ctx, run_id, tmp_path / "forked"))
    readers = [int(line) for line in (tmp_path / "readers").read_text().split()]
    assert readers
    assert os.getpid() not in readers  # read elsewhere...
    assert forked == here  # ... into the same bytes: every row, the counts per school, the lists
    assert b"p:" in forked["plan-report.csv"]
    assert len(forked["plan-report.csv"].splitlines()) > 100
    monkeypatch.undo()
    assert _files(_report(ctx, run_id, tmp_path / "after")) == here  # this process's connections still work


@pytest.mark.parametrize("fault", ["disk full", "killed", "writer's disk full"])
def test_a_child_that_fails_fails_the_report_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    ctx, run_id = _planned(tmp_path)
    parent = os.getpid()

    item_id = writers._item_id

    def _failing_people(*args: Any, **kw: Any) -> Any:
        assert os.getpid() != parent
        if fault == "killed":
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        raise OSError(errno.ENOSPC, "No space left on device")

    def _failing_writer(item: Any, pseudonymize: Any) -> str:
        if item.key.endswith("7"):  # some rows in: the child is reading ahead
            raise OSError(errno.ENOSPC, "No space left on device")
        return item_id(item, pseudonymize)

    if fault == "writer's disk full":
        monkeypatch.setattr(writers, "_item_id", _failing_writer)
    else:
        monkeypatch.setattr(reports, "_people", _failing_people)
    monkeypatch.setattr(reports, "FORK_MIN_ROWS", 1)
    folder = tmp_path / "failed"
    if fault == "killed":
        with pytest.raises(ReaderProcessError, match="run the same command again"):
            _report(ctx, run_id, folder)
    else:
        with pytest.raises(OSError, match="No space left") as caught:
            _report(ctx, run_id, folder)
        assert caught.value.errno == errno.ENOSPC  # the CLI's "no space left" message needs it
    assert multiprocessing.active_children() == []  # stopped at once, not when the error is collected
    leftovers = list(folder.rglob("*")) if folder.exists() else []
    # No half report, no temp file: only the run's report lock (ent_migrate.report._temps), kept as a
    # lock file is (removing one while another process waits on it would let two writers in).
    assert [p.name for p in leftovers if p.is_file()] == [".report.lock"]
    # The store is still usable here: the child's connections were its own.
    monkeypatch.undo()
    assert (_report(ctx, run_id, tmp_path / "again") / "plan-report.csv").is_file()


def _idle(engine: Engine) -> int:
    pool = engine.pool  # a new one after each dispose: looked up each time
    assert isinstance(pool, QueuePool)  # SQLAlchemy's pool for a SQLite file
    return pool.checkedin()


def test_this_process_holds_no_idle_connection_while_the_child_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each idle connection keeps the page cache the earlier stages filled: closed before the fork, so
    # the parent's memory and the child's do not both hold it through the report.
    ctx, run_id = _planned(tmp_path)
    assert _idle(ctx.state.engine) >= 1  # the plan's connection, idle in the pool
    idle: list[int] = []
    item_id = writers._item_id

    def _noting_the_pool(item: Any, pseudonymize: Any) -> str:
        idle.append(_idle(ctx.state.engine))
        return item_id(item, pseudonymize)

    monkeypatch.setattr(writers, "_item_id", _noting_the_pool)
    monkeypatch.setattr(reports, "FORK_MIN_ROWS", 1)
    _report(ctx, run_id, tmp_path / "forked")
    assert len(idle) > 100
    assert set(idle) == {0}
