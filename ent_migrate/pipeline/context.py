"""Everything one pipeline run works with, resolved once from the configuration — and checked whole
before any work: a wrong type or value anywhere is a ConfigError naming the file and the key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ent_migrate.config import Config
from ent_migrate.contract import DATA_CAPABILITIES, Capability, Connector, Role
from ent_migrate.errors import ConfigError
from ent_migrate.mapping import MappingSpec, load_mapping
from ent_migrate.model import Record
from ent_migrate.pipeline.safety import Safety
from ent_migrate.pipeline.window import Window, parse_window
from ent_migrate.privacy import DEFAULT_KEY_ENV, Pseudonymizer, decode_key
from ent_migrate.privatefile import refuse_if_others_can_read
from ent_migrate.registry import open_connector
from ent_migrate.state import StateStore
from ent_migrate.state.crypto import PayloadCipher, attach_cipher
from ent_migrate.state.items import BATCH

__all__ = [
    "PipelineContext",
    "ProgressFactory",
    "RunSettings",
    "mapping_from_config",
    "no_progress",
    "pseudonymizer_from_config",
    "report_dir_from_config",
    "state_cipher_from_config",
]

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Advance]]


@contextmanager
def no_progress(description: str, total: int | None = None) -> Iterator[Advance]:
    """The progress factory used when nobody watches (tests, library use)."""

    def advance(n: int = 1) -> None:
        pass

    yield advance


_VERIFY_BLOBS = ("none", "hash", "full")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """``[run]`` and ``[report]``, checked."""

    concurrency: int = 4
    max_ops: int | None = None
    verify_blobs: str = "hash"
    csv_delimiter: str = ","
    window: Window | None = None  # [run] window: apply writes only inside it (local time)

    @classmethod
    def from_config(cls, config: Config, overrides: Mapping[str, Any] | None = None) -> RunSettings:
        where = config.where
        run = dict(config.section("run"))
        run.update({k: v for k, v in (overrides or {}).items() if v is not None})
        report = config.section("report")
        unknown = sorted(set(run) - {"concurrency", "max_ops", "verify_blobs", "window"})
        if unknown:
            raise ConfigError(
                f"{where}: [run] unknown setting {', '.join(unknown)} "
                "(known: concurrency, max_ops, verify_blobs, window)"
            )
        unknown = sorted(set(report) - {"dir", "csv_delimiter"})
        if unknown:
            raise ConfigError(f"{where}: [report] unknown setting {', '.join(unknown)} (known: dir, csv_delimiter)")

        def whole(name: str, value: Any, low: int, high: int) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{where}: [run] {name} must be a whole number from {low} to {high}, not {value!r}")
            return value

        concurrency = whole("concurrency", run.get("concurrency", 4), 1, 256)
        max_ops = run.get("max_ops")
        if max_ops is not None:
            max_ops = whole("max_ops", max_ops, 1, 2**62)
        verify_blobs = run.get("verify_blobs", "hash")
        if verify_blobs not in _VERIFY_BLOBS:
            raise ConfigError(
                f"{where}: [run] verify_blobs must be one of {', '.join(_VERIFY_BLOBS)}, not {verify_blobs!r}"
            )
        delimiter = report.get("csv_delimiter", ",")
        if delimiter not in (",", ";", "\t"):
            raise ConfigError(f'{where}: [report] csv_delimiter must be ",", ";" or a tab, not {delimiter!r}')
        window = None
        if run.get("window") is not None:
            try:
                window = parse_window(run["window"], f"{where}: [run] window")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return cls(
            concurrency=concurrency, max_ops=max_ops, verify_blobs=verify_blobs, csv_delimiter=delimiter, window=window
        )


def _base(config: Config) -> Path:
    # Absolute: the report folders are kept in the state store, and apply may run from another folder.
    return config.path.parent.absolute() if config.path else Path.cwd()


def pseudonymizer_from_config(config: Config, environ: Mapping[str, str] | None = None) -> Pseudonymizer:
    """``[privacy] key`` (an ``${ENV}`` reference) or ``key_file`` (relative to the config file), else
    ``$ENT_MIGRATE_PSEUDONYM_KEY``. No key, an empty one or one under 128 bits: a ConfigError."""
    privacy = config.section("privacy")
    unknown = sorted(set(privacy) - {"key", "key_file"})
    if unknown:
        raise ConfigError(f"{config.where}: [privacy] unknown setting {', '.join(unknown)} (known: key, key_file)")
    if privacy.get("key_file"):
        key_path = Path(str(privacy["key_file"]))
        key_path = key_path if key_path.is_absolute() else _base(config) / key_path
        try:
            # A key other users of the machine can read lets them undo the pseudonyms of every report
            # (a known INE or name, hashed with it, is found again): refused before it is even read.
            refuse_if_others_can_read(key_path, f"{config.where}: [privacy] key_file")
            raw = key_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{config.where}: [privacy] key_file {key_path}: {exc.strerror}") from None
        return Pseudonymizer(decode_key(raw, f"{config.where}: [privacy] key_file {key_path}"))
    if "key" in privacy:
        value = privacy["key"]
        if not isinstance(value, str):
            raise ConfigError(f'{config.where}: [privacy] key must be a string such as "${{{DEFAULT_KEY_ENV}}}"')
        return Pseudonymizer(decode_key(value, f"{config.where}: [privacy] key"))
    env = (environ if environ is not None else os.environ).get(DEFAULT_KEY_ENV, "")
    return Pseudonymizer(decode_key(env, f"{config.where}: [privacy] (and ${DEFAULT_KEY_ENV})"))


def state_cipher_from_config(config: Config) -> PayloadCipher | None:
    """``[state] encryption_key`` (an ``${ENV}`` reference, at least 128 bits): records sealed at rest."""
    state = config.section("state")
    unknown = sorted(set(state) - {"url", "encryption_key"})
    if unknown:
        raise ConfigError(f"{config.where}: [state] unknown setting {', '.join(unknown)} (known: url, encryption_key)")
    value = state.get("encryption_key")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f'{config.where}: [state] encryption_key must be a string such as "${{ENT_MIGRATE_STATE_KEY}}"'
        )
    return PayloadCipher(decode_key(value, f"{config.where}: [state] encryption_key"))


def report_dir_from_config(config: Config) -> Path:
    """``[report] dir`` (default ``reports``), relative to the config file."""
    value = config.section("report").get("dir", "reports")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{config.where}: [report] dir must be a folder path")
    report_dir = Path(value)
    return report_dir if report_dir.is_absolute() else _base(config) / report_dir


@dataclasses.dataclass
class PipelineContext:
    engine: Engine
    state: StateStore
    source_name: str  # [source.NAME]: what runs and identities are keyed by, never a path
    target_name: str
    source_spec: str
    target_spec: str
    source: Connector
    target: Connector
    mapping: MappingSpec
    safety: Safety
    pseudonymize: Pseudonymizer
    report_dir: Path
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)
    progress: ProgressFactory = no_progress
    config_digest: str = ""

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency

    @property
    def capabilities(self) -> list[Capability]:
        """The data capabilities both ends share, in dependency order."""
        return [c for c in DATA_CAPABILITIES if c in self.source.capabilities and c in self.target.capabilities]

    @property
    def source_is_partial(self) -> bool:
        return Capability.DELTA in self.source.capabilities and self.source.is_partial()

    def notices(self) -> list[str]:
        """What the connectors want said on every run."""
        return [*self.source.notices(), *self.target.notices()]

    def close(self) -> None:
        """Release both ends. Never finishes the target: only a completed apply does (runner)."""
        try:
            self.source.close()
        finally:
            self.target.close()

    def read_target_batches(self, description: str) -> Iterator[list[Record]]:
        """What the target holds, for the shared capabilities, in batches (plan and verify match each
        batch against the state store, so memory stays one batch)."""
        batch: list[Record] = []
        with self.progress(description, None) as advance:
            for capability in self.capabilities:
                for record in self.target.read(capability):
                    batch.append(record)
                    if len(batch) >= BATCH:
                        yield batch
                        advance(len(batch))
                        batch = []
            if batch:
                yield batch
                advance(len(batch))

    @classmethod
    def from_config(
        cls,
        engine: Engine,
        config: Config,
        *,
        source: str | None = None,
        target: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        safety_overrides: Mapping[str, Any] | None = None,
    ) -> PipelineContext:
        # Everything is checked before a connector is opened: a bad key fails in a second, not after
        # an hour of extract.
        source_name, source_spec, source_options, source_where = config.endpoint("source", source)
        target_name, target_spec, target_options, target_where = config.endpoint("target", target)
        mapping = mapping_from_config(config)
        safety_table = dict(config.section("safety"))
        safety_table.update({k: v for k, v in (safety_overrides or {}).items() if v is not None})
        safety = Safety.from_config(safety_table, f"{config.where}: [safety]")
        settings = RunSettings.from_config(config, overrides)
        pseudonymize = pseudonymizer_from_config(config)
        report_dir = report_dir_from_config(config)
        attach_cipher(engine, state_cipher_from_config(config))
        state = StateStore(engine)
        src = open_connector(source_spec, source_options, where=source_where, role=Role.SOURCE)
        try:
            dst = open_connector(target_spec, target_options, where=target_where, role=Role.TARGET)
        except BaseException:
            src.close()
            raise
        if Capability.DELTA in src.capabilities:
            # A delta source may reference people it does not carry (a guardian of a pupil in a delta AAF
            # bundle): it asks the state store whether an earlier run knew them.
            src.use_known_people(state.identities.known)
        digest = hashlib.sha256(
            json.dumps(
                {"source": source_name, "target": target_name, "mapping": mapping.digest}, sort_keys=True
            ).encode()
        ).hexdigest()
        return cls(
            engine=engine,
            state=state,
            source_name=source_name,
            target_name=target_name,
            source_spec=source_spec,
            target_spec=target_spec,
            source=src,
            target=dst,
            mapping=mapping,
            safety=safety,
            pseudonymize=pseudonymize,
            report_dir=report_dir,
            settings=settings,
            config_digest=digest,
        )


def mapping_from_config(config: Config) -> MappingSpec:
    """The mapping ``[mapping] file`` names (the shipped default without one), read and checked."""
    return load_mapping(_mapping_ref(config), _base(config))


def _mapping_ref(config: Config) -> str | None:
    table = config.section("mapping")
    unknown = sorted(set(table) - {"file"})
    if unknown:
        raise ConfigError(f"{config.where}: [mapping] unknown setting {', '.join(unknown)} (known: file)")
    ref = table.get("file")
    if ref is not None and not isinstance(ref, str):
        raise ConfigError(f"{config.where}: [mapping] file must be a path or a shipped mapping's name")
    return ref
