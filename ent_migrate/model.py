"""The canonical model: frozen, typed records that no connector format leaks into.

Every record has a canonical serialisation (sorted keys, NFC text, ISO dates, no insignificant
whitespace) and ``fingerprint = sha256(canonical bytes)``. Change detection, verification and
reports all rest on it, so it must be identical in every process and on every machine: it depends
only on field values, never on dict order, Unicode normal form or the Python hash seed.

Identity: each record has a ``key`` that is stable across reads of the same source and unique
within its ``kind``. People are keyed by their source id; structures by UAI; groups by
``UAI$code``; links by the keys they join.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import types
import typing
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, Union

import orjson

__all__ = [
    "RECORD_TYPES",
    "Document",
    "Function",
    "Group",
    "GroupKind",
    "Guardianship",
    "Mailbox",
    "Membership",
    "Message",
    "Person",
    "Production",
    "Profile",
    "Record",
    "RecordKind",
    "Structure",
    "canonical_bytes",
    "canonical_dict",
    "canonical_json",
    "fingerprint",
    "fingerprint_of",
    "may_hold_long_int",
    "nfc",
    "record_from_dict",
]


class RecordKind(StrEnum):
    """The kinds of canonical record, in dependency order (a kind only refers to earlier ones)."""

    STRUCTURE = "structure"
    PERSON = "person"
    FUNCTION = "function"
    GROUP = "group"
    MEMBERSHIP = "membership"
    GUARDIANSHIP = "guardianship"
    MAILBOX = "mailbox"
    MESSAGE = "message"
    DOCUMENT = "document"
    PRODUCTION = "production"


class Profile(StrEnum):
    """A person's profile. The SDET ``National_*`` codes are a mapping concern, not the model's."""

    STUDENT = "student"
    GUARDIAN = "guardian"
    TEACHER = "teacher"
    STAFF = "staff"


class GroupKind(StrEnum):
    """A class (division) or a group (regroupement, option group)."""

    CLASS = "class"
    GROUP = "group"


def nfc(text: str) -> str:
    """Return *text* in Unicode NFC, the only form the model stores."""
    return unicodedata.normalize("NFC", text)


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    """The field names of a record class, looked up once (records are built on every hot path)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


#: exact types whose values never hold text (a value of any other type is walked field by field)
_PLAIN_TYPES = frozenset({type(None), bool, int, dt.date, dt.datetime})


def _text_kind(annotation: Any) -> str:
    """How a field's annotation says it holds text: "text" (str or a StrEnum), "optional" (one of them
    or None), "texts" (``tuple[str, ...]``) or "other"."""
    if isinstance(annotation, type) and issubclass(annotation, str):
        return "text"
    if typing.get_origin(annotation) is tuple and typing.get_args(annotation) == (str, Ellipsis):
        return "texts"
    if typing.get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1 and _text_kind(inner[0]) == "text":
            return "optional"
    return "other"


def _walk_text(record: _Record) -> None:
    """NFC every non-ASCII text field and every tuple of text holding non-ASCII text."""
    for name in _field_names(type(record)):
        value = getattr(record, name)
        if isinstance(value, str):
            if not value.isascii():  # ASCII is always NFC
                object.__setattr__(record, name, nfc(value))
        elif isinstance(value, tuple) and value:
            try:
                joined = "".join(value)
            except TypeError:  # not a tuple of text
                continue
            if not joined.isascii():
                object.__setattr__(record, name, tuple(v if v.isascii() else nfc(v) for v in value))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Record:
    kind: ClassVar[RecordKind]

    @property
    def key(self) -> str:
        raise NotImplementedError

    def fingerprint(self) -> str:
        return fingerprint(self)

    def to_dict(self) -> dict[str, Any]:
        return canonical_dict(self)

    def __post_init__(self) -> None:
        # Normalise text on the way in so that equality, keys and fingerprints agree. The record
        # classes below run this check inline, in the __init__ that _fast_init writes for them.
        _walk_text(self)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Structure(_Record):
    """A school or other structure, identified by its UAI (7 digits + check letter)."""

    kind: ClassVar[RecordKind] = RecordKind.STRUCTURE
    uai: str
    name: str = ""
    type: str = ""  # e.g. ECOLE ELEMENTAIRE, COLLEGE
    jointure: str | None = None
    city: str | None = None

    @property
    def key(self) -> str:
        return self.uai


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Person(_Record):
    """An account holder: pupil, guardian, teacher or staff."""

    kind: ClassVar[RecordKind] = RecordKind.PERSON
    id: str  # stable source id (e.g. académie-prefixed jointure)
    profile: Profile
    last_name: str  # the name in use (SIECLE NOM_USAGE when there is one)
    first_name: str
    birth_name: str | None = None  # the birth name (SIECLE NOM_DE_FAMILLE) when it differs from last_name
    birth_date: dt.date | None = None
    ine: str | None = None
    emails: tuple[str, ...] = ()
    structures: tuple[str, ...] = ()  # UAIs the person is attached to
    login: str | None = None
    other_first_names: tuple[str, ...] = ()
    civility: str | None = None
    source_ids: tuple[str, ...] = ()  # other ids the same person has in other sources
    active: bool = True  # False once the account is disabled (gone from the source, kept on the target)

    @property
    def key(self) -> str:
        return self.id


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Function(_Record):
    """A staff member's function in a structure (e.g. ENS with a discipline)."""

    kind: ClassVar[RecordKind] = RecordKind.FUNCTION
    person_id: str
    uai: str
    code: str
    discipline: str | None = None
    label: str | None = None

    @property
    def key(self) -> str:
        return f"{self.person_id}|{self.uai}|{self.code}|{self.discipline or ''}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Group(_Record):
    """A class or group, keyed by UAI + code."""

    kind: ClassVar[RecordKind] = RecordKind.GROUP
    uai: str
    code: str
    group_kind: GroupKind = GroupKind.CLASS
    name: str = ""
    level: str | None = None  # CP, CE1, ..., 6e, 3e

    @property
    def key(self) -> str:
        return f"{self.uai}${self.code}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Membership(_Record):
    """A person in a class or group (pupil, or teacher teaching it)."""

    kind: ClassVar[RecordKind] = RecordKind.MEMBERSHIP
    person_id: str
    uai: str
    group_code: str
    subject: str | None = None  # a teacher's subject in that group

    @property
    def key(self) -> str:
        return f"{self.person_id}|{self.uai}${self.group_code}|{self.subject or ''}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Guardianship(_Record):
    """A guardian ↔ pupil edge with the legal-responsibility level and kinship code."""

    kind: ClassVar[RecordKind] = RecordKind.GUARDIANSHIP
    guardian_id: str
    student_id: str
    legal_level: int | None = None  # 1 représentant légal, 2 personne en charge, 3 contact; 0 none
    kinship: str | None = None  # BCN N_LIEN_ELEVE_RESPONSABLE code (new codes: 10 mère, 20 père ...)

    @property
    def key(self) -> str:
        return f"{self.guardian_id}|{self.student_id}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Mailbox(_Record):
    """A mail folder of one account."""

    kind: ClassVar[RecordKind] = RecordKind.MAILBOX
    owner_id: str
    name: str  # folder path, "/"-separated, e.g. INBOX or INBOX/Archives

    @property
    def key(self) -> str:
        return f"{self.owner_id}|{self.name}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Message(_Record):
    """One mail message; its bytes are a blob addressed by ``sha256``."""

    kind: ClassVar[RecordKind] = RecordKind.MESSAGE
    owner_id: str
    mailbox: str
    message_id: str  # RFC 5322 Message-ID, or a derived id when absent
    sha256: str
    size: int
    flags: tuple[str, ...] = ()
    date: dt.datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.owner_id}|{self.mailbox}|{self.message_id}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Document(_Record):
    """A file in a person's space; its bytes are a blob addressed by ``sha256``."""

    kind: ClassVar[RecordKind] = RecordKind.DOCUMENT
    owner_id: str
    path: str  # "/"-separated, relative to the owner's space
    sha256: str
    size: int
    media_type: str = "application/octet-stream"
    modified: dt.datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.owner_id}|{self.path}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Production(_Record):
    """A pad, blog, wiki, mind map, timeline or wall, kept in a reusable open format."""

    kind: ClassVar[RecordKind] = RecordKind.PRODUCTION
    owner_id: str
    app: str  # pad | blog | wiki | mindmap | timeline | wall
    title: str
    format: str  # media type of the open export, e.g. text/html, text/markdown
    sha256: str
    size: int
    source_ref: str = ""  # the item's id in the source application

    @property
    def key(self) -> str:
        return f"{self.owner_id}|{self.app}|{self.source_ref or self.title}"


Record = Union[  # noqa: UP007 - a runtime alias used in isinstance checks and annotations alike
    Structure, Person, Function, Group, Membership, Guardianship, Mailbox, Message, Document, Production
]

RECORD_TYPES: Mapping[RecordKind, type[Record]] = types.MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            Structure,
            Person,
            Function,
            Group,
            Membership,
            Guardianship,
            Mailbox,
            Message,
            Document,
            Production,
        )
    }
)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value if value.isascii() else nfc(value)  # ASCII is always NFC: the common case, cheaply
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        try:
            if "".join(value).isascii():  # the common tuple, of ASCII text, in one C call
                return list(value)
        except TypeError:  # not all text: each item on its own
            pass
        return [_encode(v) for v in value]
    raise TypeError(f"cannot serialise {type(value).__name__}")


def canonical_dict(record: _Record) -> dict[str, Any]:
    """The record as plain JSON types, with its ``kind``; text in NFC, dates in ISO 8601."""
    out: dict[str, Any] = {"kind": str(record.kind)}
    for name in _field_names(type(record)):
        out[name] = _encode(getattr(record, name))
    return out


def canonical_bytes(record: _Record) -> bytes:
    """Sorted keys, compact separators, UTF-8 — the bytes that are fingerprinted."""
    return canonical_json(canonical_dict(record))


#: Every digit to "0", anything else to " ": a run of 19 digits is then a plain substring search
#: (a regex over each position costs more than orjson's whole decode).
_DIGITS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
#: The shortest int past 64 bits has 19 digits.
_LONG_RUN = b"0" * 19


def may_hold_long_int(raw: bytes) -> bool:
    """Does this JSON text hold a run of 19 digits? orjson reads an int past 64 bits as a float without
    a word, so such a text is for the stdlib decoder (the state store's and the package reader's)."""
    return _LONG_RUN in raw.translate(_DIGITS)


# Types json refuses must be refused here too (through the fallback), not serialised by orjson.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """*data* (JSON types, no floats) as compact, sorted, UTF-8 JSON: the canonical bytes."""
    # orjson with sorted keys writes exactly json.dumps(sort_keys, compact, ensure_ascii=False) in UTF-8
    # for the JSON types a canonical dict holds (no floats: _encode refuses them) — the plan profile's
    # top cost, 5x cheaper. What orjson refuses (an int past 64 bits, a non-str key, a lone surrogate)
    # goes through json, which gives the bytes, or the error, it always gave.
    try:
        return orjson.dumps(data, option=_ORJSON)
    except TypeError:
        return _dump_json(data)


def _dump_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint(record: _Record) -> str:
    """SHA-256 of the canonical bytes, as 64 lowercase hex digits."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def fingerprint_of(data: Mapping[str, Any]) -> str:
    """The fingerprint of a record's canonical dict (``record.to_dict()``, as the state store keeps it):
    the same bytes, so the same value, as :func:`fingerprint` of the record."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _identity(value: Any) -> Any:
    return value


def _decoder(annotation: Any) -> Callable[[Any], Any]:
    """A function turning the JSON form of one field back into its Python value (None passes)."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = _decoder(args[0])
        return lambda v: None if v is None else inner(v)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(annotation) if a is not Ellipsis}
        each = _decoder(item)
        return lambda v: None if v is None else tuple(each(x) for x in v)
    if annotation is dt.datetime:
        return lambda v: None if v is None else dt.datetime.fromisoformat(v)
    if annotation is dt.date:
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return lambda v: None if v is None else annotation(v)
    return _identity


# Decoders are built once per record class: record_from_dict is on every stage's hot path.
_DECODERS: dict[type[Any], tuple[tuple[str, Callable[[Any], Any]], ...]] = {}


def record_from_dict(data: Mapping[str, Any]) -> Record:
    """Rebuild a record from :func:`canonical_dict` output (the inverse, exactly).

    Raises ``KeyError``/``ValueError``/``TypeError`` on a malformed dict; callers that read user
    files turn those into problems naming the file and line.
    """
    cls = RECORD_TYPES[RecordKind(data["kind"])]
    decoders = _DECODERS.get(cls)
    if decoders is None:
        hints = typing.get_type_hints(cls)
        decoders = _DECODERS[cls] = tuple((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls))
    return cls(**{name: decode(data[name]) for name, decode in decoders if name in data})


def _fast_init(cls: type[_Record]) -> None:
    """Replace the dataclass ``__init__`` of *cls* by one that does the same faster (every reader builds
    records by the million): each field is set through its slot's descriptor (a third of the cost of
    the frozen ``object.__setattr__``), then the all-ASCII check almost every record passes runs on
    the arguments — one join, one isascii(), a type test per field of another kind — and anything
    else is normalised by :func:`_walk_text`, as ``__post_init__`` does. The annotations only choose
    the check: a value of another type than annotated fails it (TypeError, or a type test) and is
    walked, so the fields end up exactly as the dataclass ``__init__`` leaves them."""
    fields = dataclasses.fields(cls)
    hints = typing.get_type_hints(cls)
    scope: dict[str, Any] = {
        "_fi_cls": cls,
        "_fi_type": type,
        "_fi_tuple": tuple,
        "_fi_plain": _PLAIN_TYPES,
        "_fi_walk": _walk_text,
    }
    params: list[str] = []
    body: list[str] = []
    texts: list[str] = ['""']
    tests: list[str] = []
    for f in fields:  # dataclass field names are identifiers, none starting with _fi_: safe to write as code
        name = f.name
        slot = cls.__dict__.get(name)
        if not (f.init and f.kw_only and f.default_factory is dataclasses.MISSING) or not isinstance(
            slot, types.MemberDescriptorType
        ):
            return  # a shape this writer does not cover: the dataclass __init__ stays
        if f.default is dataclasses.MISSING:
            params.append(name)
        else:
            scope[f"_fi_default_{name}"] = f.default
            params.append(f"{name}=_fi_default_{name}")
        scope[f"_fi_set_{name}"] = slot.__set__
        body.append(f"    _fi_set_{name}(self, {name})")
        kind = _text_kind(hints[name])
        if kind == "text":
            texts.append(name)  # not text: join raises TypeError
        elif kind == "optional":
            texts.append(f"({name} or '')")  # None (or another falsy non-text, which the walk leaves alone)
        elif kind == "texts":
            tests.append(f"_fi_type({name}) is _fi_tuple")  # tested first: an iterator is never consumed
            texts.append(f"*{name}")
        else:
            tests.append(f"_fi_type({name}) in _fi_plain")
    check = " and ".join([*tests, f'"".join(({", ".join(texts)},)).isascii()'])
    source = "\n".join(
        [
            f"def __init__(self, *, {', '.join(params)}):",
            *body,
            "    if _fi_type(self) is not _fi_cls:  # a subclass: its own __post_init__, as dataclasses do",
            "        self.__post_init__()",
            "        return",
            "    try:",
            f"        if {check}:",
            "            return",
            "    except TypeError:",
            "        pass",
            "    _fi_walk(self)",
        ]
    )
    exec(source, scope)  # noqa: S102 - code written above from the class's own field names
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method


for _cls in RECORD_TYPES.values():
    _fast_init(_cls)
del _cls


def iter_kinds(kinds: Iterable[str | RecordKind]) -> list[RecordKind]:
    """Normalise a user-given list of kinds, in dependency order."""
    wanted = {RecordKind(k) for k in kinds}
    return [k for k in RecordKind if k in wanted]
