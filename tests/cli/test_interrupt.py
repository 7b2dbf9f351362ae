"""A Ctrl-C is never lost: Python swallows an exception raised in a garbage-collector callback or a
``__del__``, so one landing there must be delivered again (else the run goes on and exits 0)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import time
    from ent_migrate.cli._common import Interrupted
    from ent_migrate.cli.app import install_interrupt_handlers

    install_interrupt_handlers()

    class LandsInDel:
        def __del__(self):
            raise Interrupted  # what the SIGINT handler does when the signal lands in a __del__

    try:
        LandsInDel()  # collected at once: the exception is unraisable, Python prints and drops it
        time.sleep(5)
        print("not interrupted")
    except Interrupted:
        print("interrupted")
    """
)


def test_an_interrupt_swallowed_in_a_finaliser_is_delivered_again() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "interrupted", done.stderr
    assert "Exception ignored" not in done.stderr


def test_other_unraisable_exceptions_still_reach_the_default_hook() -> None:
    script = SCRIPT.replace("raise Interrupted  #", "raise ValueError  #")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "not interrupted"
    assert "Exception ignored" in done.stderr
    assert "ValueError" in done.stderr


LATE = textwrap.dedent(
    """
    import os, signal, sys, time
    from ent_migrate.cli.app import main

    sys.argv = ["ent-migrate", "--help"]
    try:
        main()
    except SystemExit as done:
        # the command has given its result; a Ctrl-C now, as the process winds down
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        print("exit", done.code)
        sys.exit(done.code)
    """
)


def test_a_ctrl_c_after_the_command_ended_leaves_its_exit_code() -> None:
    """Once the outcome is settled, a Ctrl-C has nothing left to stop: it must not turn a finished run
    into a traceback, or into a death by signal (-2) during the interpreter's clean-up."""
    done = subprocess.run([sys.executable, "-c", LATE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("exit 0"), done.stdout
    assert "Traceback" not in done.stderr


BUSY = textwrap.dedent(
    """
    import sys
    import sqlalchemy.exc
    import ent_migrate.cli._pipeline as commands
    from ent_migrate.cli._common import Interrupted
    from ent_migrate.cli.app import main
    from ent_migrate.state.runs import Runs

    def busy(self, run_id, status):
        # The store busy when the interrupted command marks its run (1 trial in ~30, cause not found).
        raise sqlalchemy.exc.OperationalError("UPDATE runs", {}, Exception("database is locked"))

    def ctrl_c(ctx, run_id, **kw):
        raise Interrupted  # what the SIGINT handler raises, in the middle of the plan

    config = sys.argv[1]
    for argv in (["db", "upgrade"], ["plan"]):
        sys.argv = ["ent-migrate", "-c", config, *argv]
        if argv == ["plan"]:
            Runs.set_status, commands.do_plan = busy, ctrl_c
        try:
            main()
        except SystemExit as done:
            print("exit", argv[0], done.code)
    """
)


def test_a_ctrl_c_stays_a_ctrl_c_when_the_store_is_busy(tmp_path: Path) -> None:
    """Exit 4 and "re-run to resume", not "the store is locked by another process" (exit 2)."""
    config = tmp_path / "ent-migrate.toml"
    config.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n'
        '[source.a]\nspec = "memory:a"\n[target.b]\nspec = "memory:b"\n'
        f'[report]\ndir = "{tmp_path}/reports"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "ENT_MIGRATE_PSEUDONYM_KEY": "0123456789abcdef" * 4}
    done = subprocess.run(
        [sys.executable, "-c", BUSY, str(config)], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    exits = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("exit ")]
    assert exits == [["db", "0"], ["plan", "4"]], (done.stdout, done.stderr)
    assert "re-run the same command to resume" in done.stderr
    assert "locked" not in done.stderr
