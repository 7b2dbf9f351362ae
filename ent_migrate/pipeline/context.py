"""Everything one pipeline run works with, resolved once from the configuration."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ent_migrate.config import Config
from ent_migrate.contract import Capability, Connector, Role
from ent_migrate.errors import ConfigError
from ent_migrate.model import Record
from ent_migrate.pipeline._db import BATCH
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.registry import open_connector

__all__ = [
    "KnownPeople",
    "MappingSpec",
    "PipelineContext", "ProgressFactory", "Safety", "load_mapping", "no_progress",
    "pseudonymizer_from_config",
    "report_dir_from_config",
]

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Advance]]


@contextmanager
def no_progress(description: str, total: int | None = None) -> Iterator[Advance]:
    """The progress factory used when nobody watches (tests, library use)."""

    def advance(n: int = 1) -> None:
        pass

    yield advance


@dataclasses.dataclass(frozen=True)
class Safety:
    """Thresholds enforced by plan and again by apply. None = no limit."""

    max_deletions: int | None = None
    max_deletions_pct: float | None = None
    max_updates_pct: float | None = None

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> Safety:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"[safety]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**{k: table[k] for k in known if k in table})


@dataclasses.dataclass(frozen=True)
class MappingSpec:
    """The declarative mapping (mappings/*.toml): how logins are built, what happens to accounts gone
    from the source."""

    name: str
    login_template: str = "{first}.{last}"
    login_max_length: int = 32
    login_separator: str = "."
    on_missing_person: str = "disable"  # disable | delete | keep
    profiles: Mapping[str, str] = dataclasses.field(default_factory=dict)
    digest: str = ""


def load_mapping(ref: str | None, base: Path | None = None) -> MappingSpec:
    """A shipped mapping by name (``default``) or a TOML file path."""
    ref = ref or "default"
    path = Path(ref)
    if not path.suffix and not path.exists():
        resource = resources.files("ent_migrate.mappings").joinpath(f"{ref}.toml")
        if not resource.is_file():
            raise ConfigError(f"[mapping]: no shipped mapping named {ref!r}")
        raw = resource.read_bytes()
        name = ref
    else:
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"[mapping]: cannot read {path} ({exc.strerror})") from None
        name = str(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"mapping {name}: {exc}") from None
    login = data.get("login", {})
    accounts = data.get("accounts", {})
    on_missing = accounts.get("on_missing", "disable")
    if on_missing not in ("disable", "delete", "keep"):
        raise ConfigError(f"mapping {name}: [accounts] on_missing must be disable, delete or keep")
    return MappingSpec(
        name=name,
        login_template=login.get("template", "{first}.{last}"),
        login_max_length=int(login.get("max_length", 32)),
        login_separator=login.get("separator", "."),
        on_missing_person=on_missing,
        profiles=dict(data.get("profiles", {})),
        digest=hashlib.sha256(raw).hexdigest(),
    )


def _base(config: Config) -> Path:
    return config.path.parent if config.path else Path.cwd()


def pseudonymizer_from_config(config: Config) -> Pseudonymizer:
    """``[privacy] key`` (an ``${ENV}`` reference) or ``key_file`` (relative to the config file)."""
    privacy = config.section("privacy")
    key: str | bytes | None = privacy.get("key")
    if privacy.get("key_file"):
        key_path = Path(privacy["key_file"])
        key_path = key_path if key_path.is_absolute() else _base(config) / key_path
        try:
            key = key_path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"[privacy] key_file {key_path}: {exc.strerror}") from None
    return Pseudonymizer(key)


def report_dir_from_config(config: Config) -> Path:
    """``[report] dir`` (default ``reports``), relative to the config file."""
    report_dir = Path(config.section("report").get("dir", "reports"))
    return report_dir if report_dir.is_absolute() else _base(config) / report_dir


class KnownPeople:
    """``id -> bool``: is this person id an identity (or an alias) the state store already holds?"""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, person_id: str) -> bool:
        from sqlalchemy import or_, select

        from ent_migrate.pipeline._db import table

        identities, aliases = table("identities"), table("identity_aliases")
        with self.engine.connect() as conn:
            found = conn.execute(
                select(identities.c.id)
                .outerjoin(aliases, aliases.c.identity_id == identities.c.id)
                .where(or_(identities.c.canonical_id == person_id, aliases.c.source_id == person_id))
                .limit(1)
            ).first()
        return found is not None


@dataclasses.dataclass
class PipelineContext:
    engine: Engine
    source_spec: str
    target_spec: str
    source: Connector
    target: Connector
    mapping: MappingSpec
    safety: Safety
    pseudonymize: Pseudonymizer
    report_dir: Path
    concurrency: int = 4
    max_ops: int | None = None
    verify_blobs: str = "hash"  # none | hash | full
    csv_delimiter: str = ","
    progress: ProgressFactory = no_progress
    config_digest: str = ""

    @property
    def capabilities(self) -> list[Capability]:
        """The data capabilities both ends share, in dependency order."""
        from ent_migrate.contract import DATA_CAPABILITIES

        return [c for c in DATA_CAPABILITIES if c in self.source.capabilities and c in self.target.capabilities]

    def close(self) -> None:
        self.source.close()
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
    ) -> PipelineContext:
        source_spec, source_options = config.endpoint("source", source)
        target_spec, target_options = config.endpoint("target", target)
        # A delta source may reference people it does not carry (a guardian of a pupil in a delta AAF
        # bundle): it can ask the state store whether an earlier run knew them.
        source_options.setdefault("known_people", KnownPeople(engine))
        src = open_connector(source_spec, source_options)
        dst = open_connector(target_spec, target_options)
        if Role.SOURCE not in src.roles:
            raise ConfigError(f"{source_spec}: the {src.name} connector cannot be a source")
        if Role.TARGET not in dst.roles:
            raise ConfigError(f"{target_spec}: the {dst.name} connector cannot be a target")
        base = config.path.parent if config.path else Path.cwd()
        mapping_table = config.section("mapping")
        mapping = load_mapping(mapping_table.get("file"), base)
        run = dict(config.section("run"))
        run.update({k: v for k, v in (overrides or {}).items() if v is not None})
        report = config.section("report")
        digest = hashlib.sha256(
            json.dumps({"source": source_spec, "target": target_spec, "mapping": mapping.digest}, sort_keys=True)
            .encode()
        ).hexdigest()
        return cls(
            engine=engine,
            source_spec=source_spec,
            target_spec=target_spec,
            source=src,
            target=dst,
            mapping=mapping,
            safety=Safety.from_config(config.section("safety")),
            pseudonymize=pseudonymizer_from_config(config),
            report_dir=report_dir_from_config(config),
            concurrency=int(run.get("concurrency", 4)),
            max_ops=int(run["max_ops"]) if run.get("max_ops") is not None else None,
            verify_blobs=str(run.get("verify_blobs", "hash")),
            csv_delimiter=str(report.get("csv_delimiter", ",")),
            config_digest=digest,
        )
