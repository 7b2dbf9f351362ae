"""A plan stopped while its report is being written, by Ctrl-C or by a kill, through a real process: the
report's reader (a fork, ent_migrate.pipeline._forked) goes with it, no half report is left, the store's
lock is free, and the same command then ends normally, removing what a killed one left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ent_migrate.pipeline._forked import FORK_MIN_ROWS
from ent_migrate.report import run_folder_lock
from tests.e2e.test_verdicts import _aaf_bundle, _config, _memory_config, cli, memory_source, started

__all__ = ["memory_source"]  # the fixture, used by name below


def _children(pid: int) -> set[int]:
    out = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue  # gone meanwhile
        if fields.get("PPid", "").strip() == str(pid):
            out.add(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited: only its parent has yet to read its status


def _reader_of(proc: subprocess.Popen[str], reports: Path) -> int:
    """The report reader's pid, once the report is being written (its temporary CSV is there)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the plan ended before its report could be interrupted"
        if any(reports.glob("*/plan-*/.plan-report.csv.*.tmp")) and (children := _children(proc.pid)):
            (child,) = children
            return child
        time.sleep(0.01)
    raise AssertionError("the plan never wrote its report")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_plan_stopped_in_its_report_leaves_nothing_behind(tmp_path: Path, how: signal.Signals) -> None:
    bundle = _aaf_bundle(tmp_path, accounts=12000)  # about 15,000 items: over FORK_MIN_ROWS
    config = _config(tmp_path, f"aaf:{bundle}", extra="[safety]\nmax_input_errors = -1\n")
    reports = tmp_path / "reports"
    # A group of its own, as a terminal gives a command: Ctrl-C reaches both processes.
    proc = started("-c", str(config), "plan", start_new_session=True)
    reader = _reader_of(proc, reports)
    if how == signal.SIGINT:
        os.killpg(proc.pid, how)
    else:
        proc.send_signal(how)
    _out, err = proc.communicate(timeout=60)
    if how == signal.SIGINT:
        assert proc.returncode == 4, err
        assert "interrupted: re-run the same command to resume" in err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    # The reader goes too: stopped by the plan, or, the plan killed, killed with it (PR_SET_PDEATHSIG).
    deadline = time.monotonic() + 30
    while _alive(reader) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(reader)
    assert list(reports.glob("*/plan-*/plan-report.csv")) == []  # never a half report...
    if how == signal.SIGINT:
        assert list(reports.rglob(".*.tmp")) == []  # ... nor, on Ctrl-C, its temporary files
    again = cli("-c", str(config), "plan")  # the lock went with both processes
    assert again.returncode == 0, again.stderr
    (csv,) = reports.glob("*/plan-*/plan-report.csv")
    assert len(csv.read_bytes().splitlines()) > FORK_MIN_ROWS  # a report read in a child, as interrupted
    # What the killed plan left, its temporary files and their revision's folder, went with this plan.
    assert list(reports.rglob(".*.tmp")) == []
    assert list(reports.glob("*/plan-*")) == [csv.parent]


def test_on_postgresql_the_plan_keeps_its_lock_through_the_forked_report(
    tmp_path: Path, postgres_database: str
) -> None:
    # The report's fork closes the store's idle connections first (their page caches): never the one
    # holding PostgreSQL's advisory lock, or a second writer could start while the report is written.
    bundle = _aaf_bundle(tmp_path, accounts=12000)
    config = _config(tmp_path, f"aaf:{bundle}", extra="[safety]\nmax_input_errors = -1\n")
    store = ("--state", postgres_database, "-c", str(config))
    assert cli(*store, "db", "upgrade").returncode == 0
    reports = tmp_path / "reports"
    proc = started(*store, "plan")
    try:
        _reader_of(proc, reports)  # the report is being written, read by its child
        proc.send_signal(signal.SIGSTOP)  # held there: its report takes a second, a command starts in two
        second = cli(*store, "plan")
        assert second.returncode == 2, second.stderr
        assert "in use by" in second.stderr
    finally:
        proc.send_signal(signal.SIGCONT)
        _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    (csv,) = reports.glob("*/plan-*/plan-report.csv")
    assert len(csv.read_bytes().splitlines()) > FORK_MIN_ROWS
    assert cli(*store, "plan").returncode == 0  # and the lock went with the command


def test_a_report_waits_for_the_one_being_written_of_the_same_run(tmp_path: Path, memory_source: str) -> None:
    # `ent-migrate report` takes no store lock: two at once wrote one folder together (their files'
    # time stamps differ), and the store logged the digest of whichever logged last.
    config = _memory_config(tmp_path)
    assert cli("-c", str(config), "plan").returncode == 0, memory_source
    (run_dir,) = (tmp_path / "reports").iterdir()
    with run_folder_lock(run_dir):  # another writer of this run's reports, at work
        waiting = started("-c", str(config), "report", "--kind", "plan")
        time.sleep(8)  # the report alone takes two seconds
        assert waiting.poll() is None, waiting.communicate()
    _out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert sorted(p.name for p in (run_dir / "plan-1").iterdir()) == [
        "SHA256SUMS",
        "plan-report.csv",
        "plan-report.html",
        "plan-report.json",
    ]
