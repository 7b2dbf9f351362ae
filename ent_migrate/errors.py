"""The exception tree.

Every error a user can cause is an :class:`EntMigrateError`; the CLI turns it into a one-line message
and an exit code, never a traceback::

    EntMigrateError                      exit 2 unless said otherwise
    ├── ConfigError                      bad config file, literal secret, unknown option
    ├── SpecError                        a NAME:LOCATION connector spec that cannot be resolved
    ├── RegistryError                    duplicate connector name, capability declared ≠ implemented
    ├── SchemaOutdatedError              state store behind the migrations ("ent-migrate db upgrade")
    ├── StateLockedError                 another process holds the state store's write lock
    ├── NoPlanError                      apply without a reviewed plan ("run ent-migrate plan first")
    ├── InputError                       exit 1: a source that cannot be read at all (names file and line),
    │   │                                or input problems over [safety] max_input_errors
    │   └── UnsafeArchiveError           zip-slip, link, bomb, tampered manifest member
    ├── ThresholdExceededError           exit 1: plan or apply over a safety threshold
    ├── ReaderProcessError               exit 4: a forked reader (report rows, a source) died (killed, OOM)
    └── ConnectorError                   a source or target failed
        ├── UnreachableError             exit 3: cannot connect or authenticate
        ├── TransientError               retried with backoff (carries an optional retry_after)
        └── TerminalError                fails only its item; the run goes on
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "ConnectorError",
    "EntMigrateError",
    "InputError",
    "NoPlanError",
    "ReaderProcessError",
    "RegistryError",
    "SchemaOutdatedError",
    "SpecError",
    "StateLockedError",
    "TerminalError",
    "ThresholdExceededError",
    "TransientError",
    "UnreachableError",
    "UnsafeArchiveError",
]


class EntMigrateError(Exception):
    """Base of every error a user can cause or meet; carries the CLI exit code."""

    exit_code = 2


class ConfigError(EntMigrateError):
    """The configuration is wrong; the message says what to change."""


class SpecError(EntMigrateError):
    """A connector spec (``NAME:LOCATION``) names no registered connector or has a bad location."""


class RegistryError(EntMigrateError):
    """The connector registry is inconsistent (duplicate name, capability mismatch)."""


class SchemaOutdatedError(EntMigrateError):
    """The state store schema is not at the head revision."""


class StateLockedError(EntMigrateError):
    """Another process holds the state store's write lock; the message names it."""


class NoPlanError(EntMigrateError):
    """apply was asked to execute a plan that does not exist or whose report was not written."""


class InputError(EntMigrateError):
    """A source cannot be read at all, or holds more input errors than accepted. ``where`` is
    ``file:line`` or a record reference."""

    exit_code = 1

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class UnsafeArchiveError(InputError):
    """An archive or package member is unsafe or does not match its manifest."""


class ThresholdExceededError(EntMigrateError):
    """A safety threshold (deletions, updates) would be exceeded. ``setting`` names it and
    ``suggested`` is a value that lets this plan pass."""

    exit_code = 1

    def __init__(self, message: str, setting: str = "", suggested: str = "") -> None:
        super().__init__(message)
        self.setting = setting
        self.suggested = suggested
        #: set by plan: the refused plan's report, its counts, and the first items it would remove
        self.report: dict[str, Any] | None = None
        self.counts: dict[str, int] = {}
        self.listed: list[dict[str, str]] = []


class ReaderProcessError(EntMigrateError):
    """A forked process reading for this one (:mod:`ent_migrate.pipeline._forked`: a report's rows, a
    source's records) stopped without saying why (killed, out of memory). Nothing is lost: the same
    command writes the report again, or resumes the extract."""

    exit_code = 4  # as an interrupted command


class ConnectorError(EntMigrateError):
    """A connector failed."""


class UnreachableError(ConnectorError):
    """A source or target cannot be reached or refuses the credentials."""

    exit_code = 3


class TransientError(ConnectorError):
    """A failure worth retrying; ``retry_after`` (seconds) is honoured when the server gives one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalError(ConnectorError):
    """A failure that retrying will not fix; it fails only the item concerned."""
