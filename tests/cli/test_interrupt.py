"""A Ctrl-C is never lost: Python swallows an exception raised in a garbage-collector callback or a
``__del__``, so one landing there must be delivered again (else the run goes on and exits 0)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
