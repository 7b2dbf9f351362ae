"""Datasets for the kit: canonical records plus the blobs they point to, loaded from ``cases/``.

A case is a JSON Lines file of canonical dicts (``canonical_dict`` output). Blobs are the other files
of ``cases/`` (``.eml``, ``.html``), addressed by their SHA-256, and ``*.recipe.json`` files that
describe a large blob generated at test time (a 25 MB file is never committed). A recipe states the
SHA-256 of what it generates, so a case can reference the blob without generating it, and a drift of
the generator is caught the first time the blob is used.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ent_migrate.contract import CAPABILITY_KINDS, Capability
from ent_migrate.errors import InputError
from ent_migrate.model import Document, Message, Production, Record, RecordKind, record_from_dict

__all__ = [
    "CASES_DIR",
    "LATER_SUFFIX",
    "BlobSet",
    "Dataset",
    "case_names",
    "generate_recipe",
    "load_case",
    "load_jsonl",
]

CASES_DIR = Path(str(resources.files("ent_migrate.kit.cases")))
#: ``NAME.later.jsonl`` is the second state of case NAME (what the source holds at the second read)
LATER_SUFFIX = ".later.jsonl"
_BLOB_SUFFIXES = (".eml", ".html")
_RECIPE_SUFFIX = ".recipe.json"
_CHUNK = 1 << 20

BlobRecord = Message | Document | Production


def generate_recipe(recipe: Mapping[str, Any]) -> bytes:
    """The bytes a recipe describes: ``size`` pseudo-random bytes fixed by ``seed``.

    Random rather than repetitive bytes so that a truncated, shifted or re-chunked copy never hashes
    equal by accident; ``random.Random`` with a string seed is stable across processes and platforms.
    """
    size = int(recipe["size"])
    rng = random.Random(str(recipe["seed"]))  # noqa: S311 - test data, not security
    parts = [rng.randbytes(min(_CHUNK, size - start)) for start in range(0, size, _CHUNK)]
    return b"".join(parts)


class BlobSet(Mapping[str, bytes]):
    """SHA-256 → bytes. Files are read and recipes generated on first access, then cached."""

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self._sources = dict(sources)
        self._cache: dict[str, bytes] = {}

    def __getitem__(self, sha256: str) -> bytes:
        if sha256 not in self._cache:
            self._cache[sha256] = _load_blob(self._sources[sha256], sha256)
        return self._cache[sha256]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._sources))

    def __len__(self) -> int:
        return len(self._sources)

    def restrict(self, shas: Iterable[str]) -> BlobSet:
        wanted = set(shas)
        out = BlobSet({sha: path for sha, path in self._sources.items() if sha in wanted})
        out._cache = {sha: data for sha, data in self._cache.items() if sha in wanted}
        return out


@functools.cache
def _load_blob(path: Path, sha256: str) -> bytes:
    # Cached per process: the 25 MB blob is generated once however many tests use it.
    if path.name.endswith(_RECIPE_SUFFIX):
        data = generate_recipe(json.loads(path.read_text(encoding="utf-8")))
    else:
        data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise InputError(f"blob hashes to {actual[:12]}, not the declared {sha256[:12]}", where=path.name)
    return data


@functools.cache
def _blob_sources(folder: Path) -> Mapping[str, Path]:
    sources: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.endswith(_RECIPE_SUFFIX):
            sha = str(json.loads(path.read_text(encoding="utf-8"))["sha256"])
        elif path.suffix in _BLOB_SUFFIXES:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            continue
        sources[sha] = path
    return sources


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Canonical records (one per kind and key, in dependency order) and their blobs.

    ``raw`` keeps, per ``(kind, key)``, the dict exactly as the case file wrote it (e.g. NFD text),
    for harnesses that write a file format and want to feed the connector un-normalised input.
    """

    name: str
    records: tuple[Record, ...]
    blobs: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    raw: Mapping[tuple[RecordKind, str], Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def of_kinds(self, *kinds: RecordKind) -> list[Record]:
        return [r for r in self.records if r.kind in kinds]

    def restrict(self, capabilities: Iterable[Capability]) -> Dataset:
        """Only the records the given data capabilities carry, and the blobs those records use."""
        kinds = {kind for cap in capabilities for kind in CAPABILITY_KINDS.get(cap, ())}
        records = tuple(r for r in self.records if r.kind in kinds)
        shas = {r.sha256 for r in records if isinstance(r, BlobRecord)}
        blobs = (
            self.blobs.restrict(shas)
            if isinstance(self.blobs, BlobSet)
            else {sha: data for sha, data in self.blobs.items() if sha in shas}
        )
        raw = {k: v for k, v in self.raw.items() if k[0] in kinds}
        return Dataset(self.name, records, blobs, raw)

    def fingerprints(self) -> dict[tuple[RecordKind, str], str]:
        return {(r.kind, r.key): r.fingerprint() for r in self.records}

    def blob_records(self) -> list[Message | Document | Production]:
        return [r for r in self.records if isinstance(r, BlobRecord)]


def load_jsonl(path: Path) -> tuple[list[Record], dict[tuple[RecordKind, str], Mapping[str, Any]]]:
    """Records of a JSON Lines file, merged by ``(kind, key)``.

    The same record may appear twice if both lines fingerprint equal (that is how a case says "this
    NFD line is the same person as that NFC line"); two different records under one key are an error.
    """
    records: dict[tuple[RecordKind, str], Record] = {}
    raw: dict[tuple[RecordKind, str], Mapping[str, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                data = json.loads(line)
                record = record_from_dict(data)
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"not a canonical record ({type(exc).__name__})", where=where) from None
            ident = (record.kind, record.key)
            if ident in records and records[ident].fingerprint() != record.fingerprint():
                raise InputError(f"a different {record.kind} with the same key is already defined", where=where)
            records[ident] = record
            raw[ident] = data
    order = list(RecordKind)
    ordered = sorted(records.values(), key=lambda r: (order.index(r.kind), r.key))
    return ordered, raw


def case_names(folder: Path = CASES_DIR) -> list[str]:
    """Names of the hostile cases (``NAME.jsonl``; ``NAME.later.jsonl`` is a second state, not a case)."""
    return sorted(p.name.removesuffix(".jsonl") for p in folder.glob("*.jsonl") if not p.name.endswith(LATER_SUFFIX))


def load_case(name: str, *, later: bool = False, folder: Path = CASES_DIR) -> Dataset:
    """A case as a :class:`Dataset`; ``later=True`` gives its second state (``NAME.later.jsonl``)."""
    path = folder / (f"{name}{LATER_SUFFIX}" if later else f"{name}.jsonl")
    if not path.is_file():
        raise InputError(f"no kit case {path.name}", where=str(folder))
    records, raw = load_jsonl(path)
    sources = _blob_sources(folder)
    for number, record in enumerate(records, start=1):
        if isinstance(record, BlobRecord) and record.sha256 not in sources:
            raise InputError(f"{record.kind} #{number} points to a blob no case file provides", where=path.name)
    shas = {r.sha256 for r in records if isinstance(r, BlobRecord)}
    blobs = BlobSet({sha: p for sha, p in sources.items() if sha in shas})
    return Dataset(name, tuple(records), blobs, raw)
