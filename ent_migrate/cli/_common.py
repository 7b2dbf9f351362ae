"""What every command shares: global options, JSON or Rich output, progress bars, exit codes."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine

from ent_migrate.config import Config, load_config

__all__ = [
    "EXIT_CODES",
    "EXIT_DIFFERENCES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "ConfigOpt",
    "Interrupted",
    "Settings",
    "console",
    "emit",
    "err_console",
    "open_state",
    "progress",
    "settings",
    "track",
]

EXIT_OK, EXIT_DIFFERENCES, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_DIFFERENCES: "differences or problems found",
    EXIT_USAGE: "usage or configuration error",
    EXIT_UNREACHABLE: "a source or target unreachable",
    EXIT_INTERRUPTED: "interrupted, resumable (re-run the same command)",
}


class Interrupted(BaseException):
    """Raised by our SIGINT handler. Not a KeyboardInterrupt: the CLI library would turn that into
    exit 130 before we could say how to resume (exit 4)."""


console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("ent_migrate")

T = TypeVar("T")


@dataclasses.dataclass
class Settings:
    config_path: Path | None = None
    state_url: str | None = None
    quiet: bool = False
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


settings = Settings()


def _set_config(value: Path | None) -> Path | None:
    if value is not None:
        settings.config_path = value
        settings._config = None
    return value


#: ``-c FILE`` after the command name too (``ent-migrate run -c demo-out/ent-migrate.toml``), as well as
#: before it; both set the same thing.
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file.", callback=_set_config, expose_value=True),
]


def emit(data: Any, as_json: bool, render: Callable[[], None] | None = None) -> None:
    """Print *data* as JSON (machine output, alone on stdout) or call *render* for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()
    elif render is not None:
        render()
    else:
        console.print_json(data=data)


def _progress_enabled() -> bool:
    return not settings.quiet and err_console.is_terminal and not os.environ.get("CI")


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr (only on a terminal); yields ``advance(n)``."""
    if not _progress_enabled():

        def ignore(n: int = 1) -> None:
            pass

        yield ignore
        return
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if total is not None:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    with progress(description, total) as advance:
        for item in items:
            yield item
            advance(1)


def open_state() -> Engine:
    """The state store the command works on, at the current schema revision."""
    from ent_migrate.pipeline.context import state_cipher_from_config
    from ent_migrate.state import open_store, resolve_state_url
    from ent_migrate.state.crypto import attach_cipher

    engine = open_store(resolve_state_url(settings.state_url, settings.config))
    attach_cipher(engine, state_cipher_from_config(settings.config))
    return engine
