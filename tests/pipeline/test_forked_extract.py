"""A source read in a forked child (``Connector.reads_in_child``, ent_migrate.pipeline._forked): the same
rows, in the same order, and the same problems as read here; the child's failures are this process's
errors, and an extract whose reader was killed resumes to what an uninterrupted one stores."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ent_migrate.pipeline._forked as forked
import ent_migrate.pipeline.extract as extract_module
import ent_migrate.state.items as items_module
from ent_migrate.connectors.package import PackageConnector
from ent_migrate.errors import InputError, ReaderProcessError
from ent_migrate.model import Record
from ent_migrate.pipeline import PipelineContext
from ent_migrate.pipeline.extract import extract
from ent_migrate.pipeline.runner import open_run
from ent_migrate.state import make_engine
from ent_migrate.state.items import ExtractedRow
from tests.connectors.package.helpers import reseal, sha, write
from tests.e2e.test_report_signals import _alive, _children
from tests.pipeline._helpers import context, district


def _package(tmp_path: Path, *, unreadable: bool = False) -> Path:
    """A package of a small school, with a listed file the format does not know (a problem, not an
    error); *unreadable*: its 30th person's line is not JSON (the read stops there)."""
    root = tmp_path / "pkg"
    write(district(pupils=60), root)
    (root / "notes.txt").write_text("hand-back notes\n", encoding="utf-8")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"].append({"path": "notes.txt", "size": 0, "sha256": sha(b"")})
    manifest["files"].sort(key=lambda item: item["path"])
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if unreadable:
        path = root / "records" / "person.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[29] = '{"kind": "person", "id": \n'
        path.write_text("".join(lines), encoding="utf-8")
    reseal(root)
    return root


def _stored(ctx: PipelineContext, run_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The run's items in the order they were stored, and its problems."""
    with ctx.state.engine.connect() as conn:
        items = conn.exec_driver_sql(
            "SELECT kind, key, state, source_fingerprint, payload FROM items WHERE run_id = ? ORDER BY id", (run_id,)
        ).all()
    scanned = ctx.state.problems.scan(run_id)
    problems = [(o.code, str(o.severity), o.where, o.detail) for batch in scanned for o in batch]
    return [tuple(row) for row in items], problems


def _noting_the_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each process that reads the source writes its pid to the file returned (a list appended to in
    the child would stay the child's)."""
    readers = tmp_path / "readers"
    read = extract_module._read

    def _read(*args: Any) -> Iterator[Record]:
        with readers.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        yield from read(*args)

    monkeypatch.setattr(extract_module, "_read", _read)
    return readers


#: read here; in a child that makes every row there; in a child that sends every record lighter
_WAYS = ((False, 0), (True, 0), (True, forked._AHEAD + 1))


@pytest.mark.parametrize("unreadable", [False, True], ids=["whole", "stops half-way"])
def test_a_source_read_in_a_child_is_the_source_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unreadable: bool
) -> None:
    package = _package(tmp_path, unreadable=unreadable)
    readers = _noting_the_reader(monkeypatch, tmp_path)
    outcomes = []
    for in_child, lighter_below in _WAYS:
        monkeypatch.setattr(PackageConnector, "reads_in_child", in_child)
        monkeypatch.setattr(forked, "_LIGHTER_BELOW", lighter_below)
        readers.unlink(missing_ok=True)
        ctx = context(tmp_path / f"{in_child}-{lighter_below}", source=f"package:{package}")
        run_id = open_run(ctx)
        error: tuple[type[BaseException], str] | None = None
        if unreadable:
            with pytest.raises(InputError) as caught:
                extract(ctx, run_id)
            error = (type(caught.value), str(caught.value))
        else:
            extract(ctx, run_id)
        pids = {int(line) for line in readers.read_text().split()}
        assert (os.getpid() in pids) is not in_child  # read there, or here
        outcomes.append((*_stored(ctx, run_id), ctx.source.problems.to_list(), error))
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
    items, problems, listed, error = outcomes[0]
    # A school's worth, several messages from the child; stopped half-way, what came before the bad line.
    assert len(items) > (20 if unreadable else 200)
    assert ("file.unknown", "warning", "pkg:notes.txt", "not part of the package format") in problems
    assert listed  # the source's own collector has them too: the report's problem list reads it
    if unreadable:
        assert error is not None
        assert "pkg:records/person.jsonl:30: not valid JSON" in error[1]
        assert ("source.unreadable", "error") in {p[:2] for p in problems}


def _until_stored(store: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(store)) as conn:
            if conn.execute("SELECT count(*) FROM items").fetchone()[0]:
                return
        time.sleep(0.01)


def test_a_killed_reader_stops_the_extract_and_the_rerun_stores_what_one_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path)
    whole = context(tmp_path / "whole", source=f"package:{package}")
    whole_run = open_run(whole)
    extract(whole, whole_run)
    expected, expected_problems = _stored(whole, whole_run)

    # Small batches: the child is killed after this process has stored several of them.
    monkeypatch.setattr(extract_module, "_EXTRACT_BATCH", 40)
    monkeypatch.setattr(forked, "_BATCH", 10)
    made = items_module.extracted_row
    parent = os.getpid()
    count = 0

    def _killed_at_the_150th(record: Record) -> ExtractedRow:
        nonlocal count
        count += 1
        if count == 150 and os.getpid() != parent:
            _until_stored(store)  # the parent has stored a batch of what was sent before
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return made(record)

    ctx = context(tmp_path / "killed", source=f"package:{package}")
    store = str(ctx.state.engine.url.database)
    monkeypatch.setattr(extract_module, "extracted_row", _killed_at_the_150th)
    run_id = open_run(ctx)
    with pytest.raises(ReaderProcessError, match="the process reading the source stopped"):
        extract(ctx, run_id)
    assert multiprocessing.active_children() == []
    partial, _ = _stored(ctx, run_id)
    assert 0 < len(partial) < len(expected)  # batches were stored before the kill

    monkeypatch.setattr(extract_module, "extracted_row", made)
    extract(ctx, run_id)  # the same run again, as the CLI's re-run does
    assert _stored(ctx, run_id) == (expected, expected_problems)


def test_an_error_in_the_child_is_raised_here_as_it_was_raised_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path)

    def _full(record: Record) -> ExtractedRow:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(extract_module, "extracted_row", _full)
    ctx = context(tmp_path / "s", source=f"package:{package}")
    with pytest.raises(OSError, match="No space left") as caught:
        extract(ctx, open_run(ctx))
    assert caught.value.errno == 28  # the CLI's "no space left" message needs it
    assert multiprocessing.active_children() == []


def test_the_child_reads_on_while_this_process_writes(tmp_path: Path) -> None:
    """The child queues up to _AHEAD messages for the pipe: sent straight, a message bigger than the
    pipe waited until this process took it, and the two took turns instead of working at once."""
    engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    made = multiprocessing.get_context("fork").Value("i", 0)  # shared with the child: it is a fork
    total = 40 * forked._BATCH

    def produce() -> Iterator[tuple[str, int]]:
        for n in range(total):
            made.value = n + 1
            yield str(n).rjust(300, "x"), n  # a message of a thousand: 300 kB, more than a pipe holds

    rows = forked.forked_rows(engine, produce, tuple, tuple, finish=lambda: None, on_end=lambda _: None)
    assert next(rows)[1] == 0
    deadline = time.monotonic() + 20
    while made.value < 12 * forked._BATCH and time.monotonic() < deadline:
        time.sleep(0.01)  # this process "writing": not reading the pipe
    time.sleep(0.2)
    assert made.value >= 12 * forked._BATCH  # read on, a dozen messages ahead...
    assert made.value <= (forked._AHEAD + 3) * forked._BATCH  # ...and no further: its memory is bounded
    assert [n for _, n in rows] == list(range(1, total))
    engine.dispose()


def _sides(rows: Iterator[tuple[str, int]]) -> tuple[list[str], list[int]]:
    """Which process made each batch's rows, and the rows' numbers in the order they came."""
    out = list(rows)
    return [side for side, _ in out[:: forked._BATCH]], [n for _, n in out]


def _both_ways(engine: Any, produce: Any, *, slow_here: bool = False) -> Iterator[tuple[str, int]]:
    """forked_rows of numbered rows, each row marked by the process that made it (lighter: here)."""
    rows = forked.forked_rows(
        engine,
        produce,
        lambda row: ("made there", row[1]),
        tuple,
        finish=lambda: None,
        on_end=lambda _: None,
        lighter=(lambda row: row, lambda row: ("made here", row[1])),
    )
    for n, row in enumerate(rows):
        if slow_here and n % forked._BATCH == 0:
            time.sleep(0.05)  # this process storing a batch, slowly
        yield row


def _numbered(total: int, *, slow: bool = False) -> Iterator[tuple[str, int]]:
    for n in range(total):
        if slow and n % forked._BATCH == 0:
            time.sleep(0.02)  # a slow reader (XML)
        yield str(n).rjust(300, "x"), n  # a message of a thousand: more than the pipe holds


def test_batches_made_there_or_here_give_the_same_rows_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = iter(range(10**6))  # the child's copy: one call per batch it starts
    monkeypatch.setattr(forked._Ahead, "pending", lambda self: 0 if next(calls) % 2 else 99)
    engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    total = 6 * forked._BATCH + 7
    sides, numbers = _sides(_both_ways(engine, lambda: _numbered(total)))
    assert numbers == list(range(total))
    assert sides == ["made there", "made here"] * 3 + ["made there"]
    engine.dispose()


def test_the_slower_process_makes_fewer_rows(tmp_path: Path) -> None:
    """A child that reads slowly sends its records for this process to make their rows; a child that
    waits on this process makes them itself, once a few messages are queued."""
    engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    total = 30 * forked._BATCH
    sides, numbers = _sides(_both_ways(engine, lambda: _numbered(8 * forked._BATCH, slow=True)))
    assert numbers == list(range(8 * forked._BATCH))
    assert set(sides) == {"made here"}  # this process waited for every batch
    sides, numbers = _sides(_both_ways(engine, lambda: _numbered(total), slow_here=True))
    assert numbers == list(range(total))
    assert sides[0] == "made here"  # nothing queued yet
    assert sides.count("made there") >= 20  # then the queue filled: the child did the work
    engine.dispose()


_SILENT_CHILD = """
import time
from sqlalchemy import create_engine
from ent_migrate.pipeline._forked import forked_rows

def produce():
    time.sleep(120)  # reading for long without a message: a package's hashes, checked at open
    yield (1,)

rows = forked_rows(create_engine("sqlite://"), produce, tuple, tuple, finish=lambda: None, on_end=lambda _: None)
next(rows)
"""


def test_a_child_goes_at_once_with_its_killed_parent(tmp_path: Path) -> None:
    """A killed command's reader must not outlive it until its next message: it holds the store's lock
    it inherited (the flock's file, a PostgreSQL socket), and a re-run is refused meanwhile."""
    parent = subprocess.Popen([sys.executable, "-c", _SILENT_CHILD])
    try:
        deadline = time.monotonic() + 30
        while not _children(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        (child,) = _children(parent.pid)
        time.sleep(0.5)  # past the child's start, into its read
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(child)  # gone, not reading on for the two minutes it was asked to
    finally:
        parent.kill()
