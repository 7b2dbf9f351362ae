"""What every mail connector (imap, maildir, mbox, eml) shares: message identity, proof and folder roles.

Bytes. A message's bytes are its RFC 5322 *wire form*: CRLF line ends, as IMAP ``BODY.PEEK[]`` returns
them. File formats that store bare LF on disk (Maildir, mbox, as Dovecot and mutt write them) are
converted at the boundary exactly as Dovecot does when it serves such a file, so ``Message.sha256`` (the
raw digest) means the same bytes whichever connector read the message. Nothing else is ever changed and
no header is ever added.

Identity. :func:`content_id` is the SHA-256 of a canonical form that survives transport: Message-ID, Date
in UTC, From/To/Cc addr-specs lowercased and sorted, the decoded NFC Subject, and the body with line ends
normalised and trailing whitespace cut (Received, Return-Path, X-*, Status, Content-Length, DKIM and ARC
are left out, as is every other header). :func:`parts_id` is the fallback for a server that re-encodes
MIME: the same headers plus each leaf part's type and *decoded* payload. A message's key in a folder
(:func:`folder_keys`) is its Message-ID, or ``cid:<content id>`` when it has none (Sent, Drafts), made
unique in the folder by content: a target asked to write a key finds whether it already holds that
message by content id (and occurrence), so a re-run never copies a message twice, whatever happened to
the engine's journal.

Folders. A folder with a SPECIAL-USE role (RFC 6154) is named in the model by its role (``Sent``,
``Drafts``, ``Trash``, ``Junk``, ``Archive``, ``All``, ``Flagged``), whatever the server calls it, and a
target puts it in the folder that has that role: folders are matched by role, never by name. Formats
without roles (Maildir, mbox, EML) recognise the usual English and French names. Folder names on disk
and on the wire use modified UTF-7 (RFC 3501 §5.1.3): :func:`mutf7_encode`, :func:`mutf7_decode`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "ROLE_NAMES",
    "SYSTEM_FLAGS",
    "MessageFacts",
    "canonical_folder",
    "content_id",
    "facts",
    "folder_keys",
    "header_block",
    "local_form",
    "message_id_header",
    "mutf7_decode",
    "mutf7_encode",
    "normalise_flags",
    "occurrence",
    "parts_id",
    "role_for_name",
    "sha256_hex",
    "utc_seconds",
    "wire_form",
]

#: the IMAP system flags a migration carries, in the order the model stores them (\Recent never carries)
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_SYSTEM_BY_LOWER = {f.lower(): f for f in SYSTEM_FLAGS}

#: SPECIAL-USE attribute → the folder's name in the model
ROLE_NAMES: Mapping[str, str] = {
    "\\Sent": "Sent",
    "\\Drafts": "Drafts",
    "\\Trash": "Trash",
    "\\Junk": "Junk",
    "\\Archive": "Archive",
    "\\All": "All",
    "\\Flagged": "Flagged",
}
_ROLE_BY_LOWER = {role.lower(): role for role in ROLE_NAMES}

# Names that formats without SPECIAL-USE give these folders (Thunderbird, Outlook, Roundcube, French ENTs).
_NAMED_ROLES: Mapping[str, str] = {
    name.casefold(): role
    for role, names in {
        "\\Sent": ("Sent", "Sent Items", "Sent Messages", "Envoyés", "Éléments envoyés", "Messages envoyés"),
        "\\Drafts": ("Drafts", "Brouillons"),
        "\\Trash": ("Trash", "Deleted Items", "Deleted Messages", "Corbeille", "Éléments supprimés"),
        "\\Junk": ("Junk", "Spam", "Junk E-mail", "Indésirables", "Courrier indésirable"),
        "\\Archive": ("Archive", "Archives"),
    }.items()
    for name in names
}

_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_WS = re.compile(r"\s+")
_OCCURRENCE = re.compile(r"#(\d+)$")
_TRAILING_WS = re.compile(rb"[ \t\r]+$", re.MULTILINE)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wire_form(raw: bytes) -> bytes:
    """*raw* with every bare LF made CRLF (what an IMAP server serves); CRLF already there is kept."""
    if raw.count(b"\n") == raw.count(b"\r\n"):  # two C-level counts: the common case needs no regex
        return raw
    return _BARE_LF.sub(b"\r\n", raw)


def local_form(raw: bytes) -> bytes:
    """The LF form Maildir and mbox files hold (the inverse of :func:`wire_form` for CRLF input)."""
    return raw.replace(b"\r\n", b"\n")


def normalise_flags(flags: Iterable[str | bytes]) -> tuple[str, ...]:
    """System flags in :data:`SYSTEM_FLAGS` order, then keywords sorted; ``\\Recent`` and unknown
    backslash flags dropped, duplicates (case-insensitive) removed."""
    system: set[str] = set()
    keywords: dict[str, str] = {}
    for flag in flags:
        text = flag.decode("utf-8", "replace") if isinstance(flag, bytes) else flag
        if text.startswith("\\"):
            known = _SYSTEM_BY_LOWER.get(text.lower())
            if known:
                system.add(known)
        elif text:
            keywords.setdefault(text.lower(), text)
    return tuple(f for f in SYSTEM_FLAGS if f in system) + tuple(sorted(keywords.values()))


def utc_seconds(value: dt.datetime) -> dt.datetime:
    """A timezone-aware UTC datetime without sub-second part (IMAP INTERNALDATE precision)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0)


# -- parsing ---------------------------------------------------------------------------------------
def header_block(raw: bytes) -> tuple[bytes, bytes]:
    """(headers, body) split at the first empty line; a message without one is all headers."""
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")  # raw 8-bit headers are Latin-1 more often than anything else


def _headers(raw: bytes) -> dict[str, list[str]]:
    """Unfolded headers by lowercased name (only the ones the canonical form looks at)."""
    block, _ = header_block(raw)
    out: dict[str, list[str]] = {}
    name: str | None = None
    for line in block.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and name is not None:
            out[name][-1] += " " + _text(line).strip()
            continue
        head, sep, value = line.partition(b":")
        if not sep:
            name = None
            continue
        name = _text(head).strip().lower()
        out.setdefault(name, []).append(_text(value).strip())
    return out


def message_id_header(raw: bytes) -> str | None:
    """The Message-ID as written (whitespace collapsed), or None when absent or empty."""
    values = _headers(raw).get("message-id")
    if not values:
        return None
    value = _WS.sub("", values[0])
    return value or None


def _decoded(value: str) -> str:
    try:
        parts = email.header.decode_header(value)
    except (ValueError, email.errors.HeaderParseError):
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "ascii"))
            except (LookupError, UnicodeDecodeError):
                out.append(_text(chunk))
        else:
            out.append(chunk)
    return "".join(out)


def _addresses(values: list[str]) -> str:
    specs = sorted({addr.strip().lower() for _, addr in email.utils.getaddresses(values) if addr.strip()})
    return ",".join(specs)


def _date(values: list[str]) -> str:
    if not values:
        return ""
    try:
        parsed = email.utils.parsedate_to_datetime(values[0])
    except (TypeError, ValueError, IndexError):
        return _WS.sub(" ", values[0]).strip()
    return utc_seconds(parsed).isoformat()


def _canonical_headers(raw: bytes) -> bytes:
    headers = _headers(raw)
    subject = unicodedata.normalize("NFC", _WS.sub(" ", _decoded(" ".join(headers.get("subject", [])))).strip())
    lines = [
        f"message-id:{_WS.sub('', (headers.get('message-id') or [''])[0])}",
        f"date:{_date(headers.get('date', []))}",
        f"from:{_addresses(headers.get('from', []))}",
        f"to:{_addresses(headers.get('to', []))}",
        f"cc:{_addresses(headers.get('cc', []))}",
        f"subject:{subject}",
    ]
    return "\n".join(lines).encode("utf-8")


def _canonical_text(body: bytes) -> bytes:
    # One C-level pass each (bodies of megabytes): CRLF to LF, then whitespace cut at every line end.
    text = body.replace(b"\r\n", b"\n")
    if b" \n" in text or b"\t\n" in text or b"\r" in text or text.endswith((b" ", b"\t")):
        text = _TRAILING_WS.sub(b"", text)
    return text.rstrip(b"\n")


def content_id(raw: bytes) -> str:
    """SHA-256 of the canonical form (see the module docstring), 64 hex digits."""
    _, body = header_block(raw)
    return sha256_hex(_canonical_headers(raw) + b"\n\n" + _canonical_text(body))


def parts_id(raw: bytes) -> str:
    """The fallback identity: canonical headers plus each leaf part's type and decoded payload, so a
    message whose MIME a server re-encoded (8bit → quoted-printable) is still recognised."""
    digest = hashlib.sha256(_canonical_headers(raw))
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        ctype = part.get_content_type()
        if ctype.startswith("text/"):
            data = _canonical_text(data)
        digest.update(b"\0" + ctype.encode("ascii", "replace") + b"\0" + data)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class MessageFacts:
    """What identifies one message: its raw digest and size (of the wire form) and its content ids."""

    sha256: str
    size: int
    message_id: str | None  # the header, None when absent
    content_id: str


def facts(wire: bytes) -> MessageFacts:
    """The facts of a message already in wire form."""
    return MessageFacts(sha256_hex(wire), len(wire), message_id_header(wire), content_id(wire))


def folder_keys(messages: Sequence[MessageFacts]) -> list[str]:
    """The model key (``Message.message_id``) of each message of one folder, in the same order.

    The Message-ID when the folder holds one message content under it; ``<id>#cid=<16 hex>`` for each of
    several different messages sharing one Message-ID; ``cid:<content id>`` without Message-ID. Exact
    copies of one content get ``#2``, ``#3``... Keys depend on contents only, never on the order or the
    UIDs a server gave, so a source and a target holding the same messages key them alike.
    """
    contents_by_id: dict[str, set[str]] = {}
    for item in messages:
        if item.message_id is not None:
            contents_by_id.setdefault(item.message_id, set()).add(item.content_id)
    seen: dict[str, int] = {}
    out = []
    for item in messages:
        if item.message_id is None:
            base = f"cid:{item.content_id}"
        elif len(contents_by_id[item.message_id]) == 1:
            base = item.message_id
        else:
            base = f"{item.message_id}#cid={item.content_id[:16]}"
        n = seen[base] = seen.get(base, 0) + 1
        out.append(base if n == 1 else f"{base}#{n}")
    return out


def occurrence(key: str) -> int:
    """Which copy of its content a key names (1 for the first)."""
    match = _OCCURRENCE.search(key)
    return int(match.group(1)) if match and not key.endswith(">") else 1


# -- folders ---------------------------------------------------------------------------------------
def role_for_name(name: str) -> str | None:
    """The SPECIAL-USE role a top-level folder's *name* usually means, for formats without roles."""
    return _NAMED_ROLES.get(unicodedata.normalize("NFC", name).casefold())


def canonical_folder(path: str, role: str | None) -> str:
    """The model name of a folder: its role's name when it has one (its subfolders follow), else the
    "/"-separated path as it is. INBOX is always ``INBOX``."""
    head, sep, rest = path.partition("/")
    if head.upper() == "INBOX":
        return "INBOX" + sep + rest
    if role is not None:
        known = _ROLE_BY_LOWER.get(role.lower())
        if known is not None:
            return ROLE_NAMES[known]
    return path


# -- modified UTF-7 (RFC 3501 §5.1.3) --------------------------------------------------------------
def mutf7_encode(name: str) -> str:
    """*name* in modified UTF-7: printable ASCII as is (``&`` as ``&-``), the rest base64 of UTF-16BE."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def mutf7_decode(name: str) -> str:
    """The inverse of :func:`mutf7_encode`; raises ValueError on a malformed name."""
    out: list[str] = []
    i = 0
    while i < len(name):
        char = name[i]
        if char != "&":
            out.append(char)
            i += 1
            continue
        end = name.find("-", i)
        if end < 0:
            raise ValueError(f"unterminated modified UTF-7 shift at {i}")
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            data = chunk.replace(",", "/")
            data += "=" * (-len(data) % 4)
            out.append(base64.b64decode(data, validate=True).decode("utf-16-be"))
        i = end + 1
    return unicodedata.normalize("NFC", "".join(out))
