"""R06: credentials in the hand-back's files. A value under a password-like field is either a hash of a
documented algorithm (``$2b$`` bcrypt, ``$argon2id$``, PBKDF2, LDAP ``{SSHA}``/``{CRYPT}``) or treated as
clear text and rejected. Values are never kept, logged or reported: only counts per file."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CredentialScan", "classify", "scan_tree"]

_FIELD = re.compile(r"(?i)^(user)?pass(word|wd)?$|^mot_?de_?passe$|^mdp$|^pwd$|^password_?hash$")
_HASHES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$"), "bcrypt"),
    (re.compile(r"^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"), "argon2id"),
    (re.compile(r"^(\$pbkdf2(-sha(1|256|512))?\$|pbkdf2_sha(1|256|512)\$|\{PBKDF2(-SHA(1|256|512))?\})"), "pbkdf2"),
    (re.compile(r"^\{(SSHA(256|512)?|CRYPT)\}"), "ldap-scheme"),
)
_TEXT = (".csv", ".json", ".jsonl", ".ldif")
_MAX_FILE = 256 << 20  # a credentials file is small; a larger text file is not scanned (counted)


def classify(value: str) -> str:
    """The hash algorithm the value is recognisably stored with, or ``clear`` (or ``empty``)."""
    if not value:
        return "empty"
    for pattern, name in _HASHES:
        if pattern.match(value):
            return name
    return "clear"


@dataclasses.dataclass
class CredentialScan:
    algorithms: Counter[str] = dataclasses.field(default_factory=Counter)
    clear_files: Counter[str] = dataclasses.field(default_factory=Counter)  # label -> clear values
    skipped: int = 0  # text files too large to scan


def _walk_json(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _FIELD.match(key) and isinstance(value, str):
                yield value
            else:
                yield from _walk_json(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk_json(value)


def _values(path: Path, text: str) -> Iterator[str]:
    suffix = path.suffix.lower()
    if suffix == ".ldif":
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and _FIELD.match(name.strip()):
                if value.startswith(":"):  # base64 (RFC 2849)
                    try:
                        value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
                    except ValueError:
                        value = "?"
                yield value.strip()
    elif suffix == ".csv":
        sample = text[:4096]
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        fields = [f for f in reader.fieldnames or () if _FIELD.match(f.strip())]
        for row in reader:
            for field in fields:
                yield row.get(field) or ""
    elif suffix == ".jsonl":
        for line in text.splitlines():
            try:
                yield from _walk_json(json.loads(line))
            except ValueError:
                continue  # not JSON: R15 and the source's own reader say so
    else:
        try:
            yield from _walk_json(json.loads(text))
        except ValueError:
            return


def scan_tree(root: Path, label: str, scan: CredentialScan, name_of: Any = str) -> None:
    """Scan every text file under *root* (or *root* itself) into *scan*."""
    paths = [root] if root.is_file() else [Path(d) / n for d, _s, names in os.walk(root) for n in names]
    for path in sorted(paths):
        if path.suffix.lower() not in _TEXT or path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_size > _MAX_FILE:
            scan.skipped += 1
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        for value in _values(path, text):
            kind = classify(value)
            scan.algorithms[kind] += 1
            if kind == "clear":
                scan.clear_files[f"{label}/{name_of(rel)}"] += 1
