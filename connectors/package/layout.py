"""The package format's names, paths, line encoding and JSON Schemas — shared by reader and writer.

One definition of the format, used both ways, so the writer cannot drift from what the reader
accepts (docs/package-format.md is the long form).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import types
import typing
from enum import StrEnum
from typing import Any, Union

from ent_migrate.model import (
    RECORD_TYPES,
    Document,
    Message,
    Production,
    Record,
    RecordKind,
    canonical_dict,
    canonical_json,
)

__all__ = [
    "BLOB_KINDS",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "MANIFEST_SCHEMA",
    "WORK_DIR",
    "blob_path",
    "dump_json",
    "encode_line",
    "encode_segment",
    "record_file",
    "record_schema",
    "schema_file",
]

FORMAT = "ent-migrate-package"
FORMAT_VERSION = "1.0"
MANIFEST = "manifest.json"
#: housekeeping of an unfinished directory target (logs, temp files); never part of a finished package
WORK_DIR = ".ent-migrate"
BLOB_KINDS = frozenset({RecordKind.MESSAGE, RecordKind.DOCUMENT, RecordKind.PRODUCTION})

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
_MAX_SEGMENT = 200  # well under the 255-byte file-name limit of common filesystems


def record_file(kind: RecordKind) -> str:
    return f"records/{kind}.jsonl"


def schema_file(kind: RecordKind) -> str:
    return f"schemas/{kind}.schema.json"


def encode_segment(text: str) -> str:
    """One path segment from any string, injectively: percent-encode UTF-8 bytes outside
    ``[A-Za-z0-9_.-]`` and a leading dot (so no ``.``/``..``/hidden names); ``%`` alone for the empty
    string. An over-long result becomes ``~`` + 40 hex digits of its SHA-256 (``~`` is never produced
    otherwise)."""
    if not text:
        return "%"
    out: list[str] = []
    for index, char in enumerate(text):
        if char in _SAFE and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    encoded = "".join(out)
    if len(encoded) > _MAX_SEGMENT:
        return "~" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
    return encoded


def blob_path(record: Message | Document | Production) -> str:
    """Where a record's bytes live in the package.

    Documents and productions: content-addressed and shared, ``files/<sha[:2]>/<sha>``. Messages: one
    EML file per message (the raw RFC 5322 bytes, untouched), ``mail/<owner>/<mailbox>/<sha>.eml``,
    owner and mailbox each one :func:`encode_segment` segment (a ``/`` in a mailbox name is encoded, so a
    folder holds only messages).
    """
    if isinstance(record, Message):
        return f"mail/{encode_segment(record.owner_id)}/{encode_segment(record.mailbox)}/{record.sha256}.eml"
    return f"files/{record.sha256[:2]}/{record.sha256}"


def dump_json(data: Any) -> str:
    """Compact, sorted, UTF-8 JSON: the same bytes on every machine."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_line(record: Record, *, disabled: bool = False) -> str:
    """One JSON Lines line: the canonical dict, plus ``blob_path`` for records with bytes and
    ``disabled: true`` for an account the migration disabled."""
    data = canonical_dict(record)
    if isinstance(record, Message | Document | Production):
        data["blob_path"] = blob_path(record)
    if disabled:
        data["disabled"] = True
    return canonical_json(data).decode("utf-8") + "\n"  # what dump_json writes, through orjson


# -- JSON Schemas -----------------------------------------------------------------------------------


def _type_schema(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = _type_schema(args[0])
        if "type" in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is tuple:
        item = next(a for a in typing.get_args(annotation) if a is not Ellipsis)
        return {"type": "array", "items": _type_schema(item)}
    if annotation is dt.datetime:
        return {"type": "string", "format": "date-time"}
    if annotation is dt.date:
        return {"type": "string", "format": "date"}
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return {"enum": [str(member) for member in annotation]}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is str:
        return {"type": "string"}
    raise TypeError(f"no JSON Schema for {annotation!r}")  # pragma: no cover - the model uses the types above


def record_schema(kind: RecordKind) -> dict[str, Any]:
    """A draft 2020-12 JSON Schema for one line of ``records/<kind>.jsonl``, from the model's fields."""
    cls = RECORD_TYPES[kind]
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {"kind": {"const": str(kind)}}
    required = ["kind"]
    for field in dataclasses.fields(cls):
        schema = _type_schema(hints[field.name])
        if field.name in ("sha256",):
            schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
        elif field.name == "size":
            schema = {"type": "integer", "minimum": 0}
        properties[field.name] = schema
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.append(field.name)
    if kind in BLOB_KINDS:
        properties["blob_path"] = {"type": "string", "minLength": 1}
        required.append("blob_path")
    properties["disabled"] = {"type": "boolean"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:ent-migrate:package:{FORMAT_VERSION}:{kind}",
        "title": f"{cls.__name__} record of an {FORMAT} {FORMAT_VERSION}",
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"urn:ent-migrate:package:{FORMAT_VERSION}:manifest",
    "type": "object",
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"type": "string", "pattern": r"^1\.[0-9]+$"},
        "producer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
            "required": ["name", "version"],
        },
        "created_at": {"type": "string", "minLength": 1},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "size": {"type": "integer", "minimum": 0},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
                "required": ["path", "size", "sha256"],
            },
        },
    },
    "required": ["format", "format_version", "producer", "created_at", "files"],
}
