"""Small districts and contexts for the pipeline tests (memory connectors, a SQLite state store)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ent_migrate.config import Config
from ent_migrate.connectors.memory import MemoryConnector, MemoryStore
from ent_migrate.contract import Action, Operation
from ent_migrate.model import (
    Document,
    Group,
    GroupKind,
    Guardianship,
    Mailbox,
    Membership,
    Message,
    Person,
    Profile,
    Record,
    Structure,
)
from ent_migrate.pipeline import PipelineContext
from ent_migrate.state import make_engine, upgrade

UAI = "0801234G"
#: a 128-bit pseudonym key for tests (reports refuse to run without one)
TEST_KEY = "00112233445566778899aabbccddeeff"


def district(pupils: int = 20) -> Iterator[tuple[Record, bytes | None]]:
    """A tiny school: pupils in two classes, one guardian each, a teacher, mail and documents."""
    yield Structure(uai=UAI, name="ECOLE JULES FERRY", type="ECOLE ELEMENTAIRE"), None
    for code in ("CM1", "CM2"):
        yield Group(uai=UAI, code=code, group_kind=GroupKind.CLASS, name=code, level=code), None
    yield (
        Person(
            id="t1",
            profile=Profile.TEACHER,
            last_name="Le Goff-Núñez",
            first_name="Anaïs",
            emails=("a@example.org",),
            structures=(UAI,),
        ),
        None,
    )
    for i in range(pupils):
        pid, gid = f"p{i}", f"g{i}"
        yield (
            Person(
                id=pid,
                profile=Profile.STUDENT,
                last_name="N'Diaye",
                first_name=f"Élève{i}",
                birth_date=dt.date(2014, 1 + i % 12, 1 + i % 28),
                ine=f"{i:010d}A",
                structures=(UAI,),
            ),
            None,
        )
        yield (
            Person(id=gid, profile=Profile.GUARDIAN, last_name="N'Diaye", first_name=f"Parent{i}", structures=(UAI,)),
            None,
        )
        yield Membership(person_id=pid, uai=UAI, group_code="CM1" if i % 2 else "CM2"), None
        yield Guardianship(guardian_id=gid, student_id=pid, legal_level=1, kinship="10"), None
    yield Mailbox(owner_id="t1", name="INBOX"), None
    for i in range(3):
        raw = f"Message-ID: <m{i}@example.org>\r\nSubject: =?utf-8?q?R=C3=A9union?=\r\n\r\nBonjour {i}\r\n".encode()
        yield (
            Message(
                owner_id="t1",
                mailbox="INBOX",
                message_id=f"<m{i}@example.org>",
                sha256=hashlib.sha256(raw).hexdigest(),
                size=len(raw),
            ),
            raw,
        )
    for i, size in enumerate((0, 10, 5000)):
        blob = bytes([i % 256]) * size
        yield (
            Document(
                owner_id="t1",
                path=f"Documents/fiche {i}.txt",
                sha256=hashlib.sha256(blob).hexdigest(),
                size=size,
                media_type="text/plain",
            ),
            blob,
        )


def fill(store: MemoryStore, items: Iterator[tuple[Record, bytes | None]]) -> int:
    n = 0
    for record, blob in items:
        store.put(record, blob)
        n += 1
    return n


def fill_persisted(name: str, path: Path, items: Iterator[tuple[Record, bytes | None]]) -> int:
    """Fill a memory store whose writes are persisted to *path*, so another process can read it."""
    connector = MemoryConnector(name, {"persist": str(path)})
    n = 0
    for record, blob in items:
        import io

        op = Operation(op_id=f"seed-{n}", action=Action.CREATE, kind=record.kind, key=record.key, record=record)
        connector.write(op, io.BytesIO(blob) if blob is not None else None)
        n += 1
    return n


def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(e)
    return e


def context(
    tmp_path: Path,
    *,
    source: str = "memory:src",
    target: str = "memory:dst",
    source_options: Mapping[str, Any] | None = None,
    target_options: Mapping[str, Any] | None = None,
    safety: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    db: Engine | None = None,
    source_name: str = "a",
) -> PipelineContext:
    data: dict[str, Any] = {
        "source": {source_name: {"spec": source, **(source_options or {})}},
        "target": {"b": {"spec": target, **(target_options or {})}},
        "privacy": {"key": TEST_KEY},
        "report": {"dir": str(tmp_path / "reports")},
        # Tiny districts: one departure is several percent of the target, so the tests that are not about
        # thresholds lift the share limits (test_stages checks the shipped defaults).
        "safety": dict(safety) if safety is not None else {"max_deletions_pct": -1, "max_updates_pct": -1},
        "mapping": dict(mapping or {}),
    }
    return PipelineContext.from_config(db or engine(tmp_path), Config(tmp_path / "cfg.toml", data))


def snapshot(store: MemoryStore) -> dict[str, Any]:
    """The observable end state of a memory target: fingerprints by kind and key, disabled keys."""
    return {
        "records": {str(k): {key: r.fingerprint() for key, r in v.items()} for k, v in store.records.items() if v},
        "disabled": sorted(store.disabled),
        "blobs": sorted(store.blobs),
    }
