"""The temporary files of a report writer that was killed are removed by the next report of the run;
those of a writer still at work, of another host or of an older ent-migrate are not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ent_migrate.report import remove_stale_temps
from ent_migrate.report._temps import temp_prefix

# A report of a run (plan revision 1), its rows from a generator that, half-way, either kills its
# own process or waits for a line on stdin: a writer killed, or one still at work.
_WRITER = """
import dataclasses, os, signal, sys
from pathlib import Path
from ent_migrate.privacy import Pseudonymizer
from tests.report._helpers import make_data, verify_items

def items():
    rows = verify_items()
    yield from rows[:4]
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("writing", flush=True)
    sys.stdin.readline()
    yield from rows[4:]

from ent_migrate.report import write_reports
data = dataclasses.replace(make_data(verify_items()), items=items())  # streamed, as the pipeline does
write_reports(data, Path(sys.argv[1]), Pseudonymizer(b"k" * 32))
"""


def _writer(folder: Path, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _temps(run: Path) -> list[Path]:
    return sorted(run.rglob(".*.tmp"))


def test_a_killed_writers_files_and_its_empty_folder_go(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "plan-2").mkdir(parents=True)
    (run / "plan-2" / "plan-report.csv").write_text("kept\n")
    killed = _writer(run / "plan-1", "kill")
    assert killed.wait(timeout=60) == -signal.SIGKILL
    left = _temps(run)
    assert [p.parent.name for p in left] == ["plan-1"]  # the CSV it was writing
    assert left[0].name.startswith(".verify-report.csv.")
    assert remove_stale_temps(run) == 1
    assert _temps(run) == []
    assert not (run / "plan-1").exists()  # nothing else was in it
    assert (run / "plan-2" / "plan-report.csv").read_text() == "kept\n"  # a report is never touched
    assert remove_stale_temps(run) == 0


def test_a_writer_at_work_keeps_its_files_and_ends_its_report(tmp_path: Path) -> None:
    run = tmp_path / "run"
    live = _writer(run / "verify-1", "wait")
    try:
        assert live.stdout is not None
        assert live.stdout.readline() == "writing\n"
        before = _temps(run)
        assert len(before) == 1
        assert remove_stale_temps(run) == 0
        assert _temps(run) == before
    finally:
        live.communicate("go\n", timeout=60)
    assert live.returncode == 0
    assert sorted(p.name for p in (run / "verify-1").iterdir()) == [
        "SHA256SUMS",
        "verify-report.csv",
        "verify-report.html",
        "verify-report.json",
    ]


def test_files_it_cannot_vouch_for_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "plan-1"
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    names = [
        f".plan-report.csv.0badc0de-{pid}.abc_12.tmp",  # another host's (a shared folder)
        ".plan-report.csv.x1y2z3.tmp",  # an older ent-migrate's: no pid in its name
        ".notes.tmp",  # not a report's
    ]
    for name in names:
        (folder / name).write_text("")
    # Named as a dead writer's file of this host, but a folder and a link: not a writer's file.
    mine = temp_prefix("plan-report.csv").replace(f"-{os.getpid()}.", f"-{pid}.")
    (folder / f"{mine}dir_1.tmp").mkdir()
    (folder / f"{mine}lnk_1.tmp").symlink_to(folder / names[0])
    names += [f"{mine}dir_1.tmp", f"{mine}lnk_1.tmp"]
    assert remove_stale_temps(tmp_path / "run") == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    assert remove_stale_temps(tmp_path / "missing") == 0  # a run's first report: no folder yet


def test_a_pid_taken_again_is_taken_for_alive(tmp_path: Path) -> None:
    # The file of a dead writer whose pid now belongs to a live process: kept (unsure, never removed).
    folder = tmp_path / "run" / "plan-1"
    folder.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        mine = temp_prefix("plan-report.csv")
        host = mine.split(".")[-2].split("-")[0]
        name = f".plan-report.csv.{host}-{sleeper.pid}.q9_w8.tmp"
        (folder / name).write_text("")
        assert remove_stale_temps(tmp_path / "run") == 0
        assert (folder / name).exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temps(tmp_path / "run") == 1  # once it is gone, so is the file
    assert not folder.exists()
