"""The Typer application and ``main``, which turns every user error into a message and an exit code.

Exit codes: 0 ok · 1 differences or problems found · 2 usage or configuration error ·
3 a source or target unreachable · 4 interrupted, resumable.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import sqlalchemy.exc
import typer

from ent_migrate import __version__
from ent_migrate.cli._common import EXIT_CODES, EXIT_INTERRUPTED, EXIT_USAGE, Interrupted, err_console, settings
from ent_migrate.errors import EntMigrateError

__all__ = ["app", "install_interrupt_handlers", "main"]

_EPILOG = "Exit codes: " + " · ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())

app = typer.Typer(
    name="ent-migrate",
    help="Move ENT accounts, relations, mail and documents between vendors, and prove nothing was lost.",
    epilog=_EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # a user's mistake never shows a traceback
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ent-migrate {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML configuration file.", envvar="ENT_MIGRATE_CONFIG")
    ] = None,
    state: Annotated[
        str | None,
        # Not envvar=: a password is refused on the command line (ps shows it) but allowed in
        # $ENT_MIGRATE_STATE, which resolve_state_url reads itself.
        typer.Option(
            "--state",
            help="State store URL (sqlite:///file.db, postgresql://user@host/db); or set "
            "ENT_MIGRATE_STATE. A password never on the command line.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", metavar="", help="Debug logs (pseudonymous).")] = False,
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_version, is_eager=True)] = False,
) -> None:
    settings.config_path = config
    settings.state_url = state
    settings.quiet = quiet
    settings._config = None
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")


# Each command group lives in its own module and registers itself on ``app`` when imported.
_COMMAND_MODULES = ("_connectors", "_db", "_inspect", "_fixtures", "_pipeline", "_reconcile", "_audit", "_promote")
for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"ent_migrate.cli.{_name}")
    except ModuleNotFoundError as exc:  # a module not written yet must not break the others
        if exc.name != f"ent_migrate.cli.{_name}":
            raise


def _on_sigint(signum: int, frame: object) -> None:
    raise Interrupted


def _on_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """Python swallows an exception raised where nothing can catch it (a garbage-collector callback,
    a ``__del__``), and a Ctrl-C landing there would be lost: the run went on and ended with exit 0.
    Deliver it again, a moment later, to the code that was running."""
    if isinstance(unraisable.exc_value, Interrupted):
        # Not from here: the handler would run inside this hook and be swallowed again.
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    sys.__unraisablehook__(unraisable)


def install_interrupt_handlers() -> None:
    """Ctrl-C raises our own exception, which the CLI library lets through (a KeyboardInterrupt it
    would turn into exit 130 with no message), and is never lost in a place Python ignores."""
    signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = _on_unraisable


def main() -> None:
    """Console entry point."""
    # A second Ctrl-C during clean-up is ignored.
    install_interrupt_handlers()
    try:
        result = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt, Interrupted):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        err_console.print("[yellow]interrupted[/]: re-run the same command to resume (the state is saved)")
        sys.exit(EXIT_INTERRUPTED)
    except sqlalchemy.exc.OperationalError as exc:  # the state store's own disk full or locked
        err_console.print(f"error: {_db_error(exc)}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:  # a full disk, a folder not writable: the user's to fix, never a traceback
        err_console.print(f"error: {_os_error(exc)}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(f"error: {exc.format_message()}", highlight=False, markup=False)
        sys.exit(EXIT_USAGE)
    except EntMigrateError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    finally:
        # The command's outcome is settled and its state saved: a Ctrl-C from now on has nothing left
        # to stop. Ignored, not restored: at exit Python puts back the default handler, and a Ctrl-C
        # during the interpreter's clean-up would kill the process (-2) over a result already given.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(result if isinstance(result, int) else 0)


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{where}: free some space, then run the same command again to resume"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}: make it writable for this user, then run the same command again"
    return f"{exc.strerror or exc}{where}"


def _db_error(exc: sqlalchemy.exc.OperationalError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if "disk is full" in text or "No space left" in text:
        return (
            "the state store's disk is full: free some space, then run the same command again to resume "
            "(nothing is lost: every write was journaled before it was made)"
        )
    if "locked" in text:
        return "the state store is locked by another process: wait for it, then run the same command again"
    return f"the state store failed ({text.splitlines()[0][:200]}): run the same command again once fixed"
