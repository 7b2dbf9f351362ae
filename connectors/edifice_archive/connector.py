"""The ``edifice-archive`` connector: Edifice (ODE / entcore) user archives as a hand-back source.

Location: ``edifice-archive:PATH``, a folder or a zip holding one export zip (or unpacked folder) per
user (layout: :mod:`.layout`). Reads the owner as a Person (id and display name: all entcore's export
says of a person; the profile comes from the options), the workspace as Documents (folder tree, dates,
media type), every production as a Production whose blob is the open-format conversion
(:mod:`ent_migrate.productions`), and the ``Messagerie`` folder as mail built by the ``conversation``
connector (:mod:`.messaging`).
Every archive is read through :class:`ent_migrate.archive.Archive` (zip-slip, links and caps refused,
named by archive and member). It also describes the hand-back for the audit
(:class:`ent_migrate.audit.evidence.HandbackSource`): modules declared / present / items / missing
references, and the ``archive.signature`` checks when ``public_key`` names the vendor's PEM.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ent_migrate.archive import Archive, Limits, check_member_name
from ent_migrate.audit.evidence import (
    HandbackInventory,
    InputFile,
    ModuleInventory,
    SignatureCheck,
    SignatureStatus,
)
from ent_migrate.connectors.conversation import ConversationConnector
from ent_migrate.connectors.edifice_archive.convert import convert_module, parse_json
from ent_migrate.connectors.edifice_archive.layout import MANIFEST, MODULES, SIGNATURE, entry_digest
from ent_migrate.connectors.edifice_archive.messaging import Messaging, copy_messaging
from ent_migrate.contract import Capability, CheckResult, Connector, ConnectorOptions, Role
from ent_migrate.errors import InputError, TerminalError
from ent_migrate.model import Document, Mailbox, Message, Person, Production, Profile
from ent_migrate.options import option
from ent_migrate.problems import Problems

__all__ = ["EdificeArchiveConnector", "EdificeArchiveOptions"]

_BY_KEY = {key: module for module, (key, _) in MODULES.items()}
_CONVERTED = frozenset({"blog", "wiki", "pad", "mindmap", "timeline", "wall", "calendar"})
_STAMP = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MISSING_BYTES = "missing bytes"  # the conversation connector's detail for an attachment it cannot find


@dataclasses.dataclass(frozen=True, slots=True)
class EdificeArchiveOptions(ConnectorOptions):
    public_key: str | None = option(None, "the vendor's RSA public key (PEM) to verify archive.signature")
    max_member_size: int = option(1 << 30, "largest member accepted in a user archive, in bytes")
    # entcore's export says nothing of a profile: the owners are accounts only when it is given
    profile: str | None = option(None, "profile of every archive's owner: student, guardian, teacher or staff")
    profiles: Mapping[str, str] = option(help="entcore user id -> profile (overrides profile)", empty_table=True)

    def __post_init__(self) -> None:
        if self.max_member_size <= 0:
            raise ValueError("option max_member_size must be positive")
        for value in (self.profile, *self.profiles.values()):
            if value is not None and value not in set(Profile):
                raise ValueError(f"profile {value!r} is not one of {', '.join(sorted(Profile))}")


@dataclasses.dataclass
class _User:
    """What one user archive gave."""

    inventory: HandbackInventory
    records: list[Document | Production]
    person: Person | None = None
    messaging: Messaging | None = None  # its Messagerie folder, copied for the conversation connector


class EdificeArchiveConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "edifice-archive"
    summary: ClassVar[str] = (
        "Edifice (ODE/entcore) user export archives: owner, workspace, productions, messages, signatures."
    )
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.MAIL, Capability.DOCUMENTS}
    )
    location_help: ClassVar[str] = "edifice-archive:PATH (a folder or zip of per-user export zips)"
    max_concurrency: ClassVar[int] = 1
    fixture_writer: ClassVar[tuple[str, str] | None] = (
        "ent_migrate.connectors.edifice_archive.writer:write_edifice_archives",
        "records",
    )
    Options: ClassVar[type[ConnectorOptions]] = EdificeArchiveOptions

    options: EdificeArchiveOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        self.path = Path(location)
        self.limits = Limits(max_member_size=self.options.max_member_size)
        self._key: rsa.RSAPublicKey | None = None
        if self.options.public_key:
            key = serialization.load_pem_public_key(Path(self.options.public_key).read_bytes())
            if not isinstance(key, rsa.RSAPublicKey):
                raise InputError("not an RSA public key", where=self.options.public_key)
            self._key = key
        self._tmp: Path | None = None
        # sha256 -> bytes of productions, (archive, member) of documents: open_blob without a rescan
        # productions' bytes, by SHA-256, in the private temp folder: an académie's blogs and pads
        # would not fit in memory, and a conversion is made once per read, not again for open_blob
        self._productions: set[str] = set()
        self._documents: dict[str, tuple[Path, str]] = {}
        self._mail: ConversationConnector | None = None  # over the copied Messagerie folders
        self._copied: dict[str, Path] = {}  # archive label -> its copy (archives do not change during a run)

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        return CheckResult(reachable=self.path.exists(), authenticated=None, detail=self.path.name)

    def notices(self) -> list[str]:
        out = []
        if self._key is None:
            out.append("edifice-archive: no public_key configured, archive.signature is not verified")
        if self.options.profile is None and not self.options.profiles:
            out.append("edifice-archive: no profile configured, the archives' owners are not read as accounts")
        return out

    def close(self) -> None:
        if self._mail is not None:
            self._mail.close()
            self._mail = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self._productions.clear()  # their bytes went with the temp folder

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Person]:
        for user in self._users():
            if user.person is not None:
                yield user.person

    def read_mail(self) -> Iterator[Mailbox | Message]:
        users = [u for u in self._users() if u.messaging]  # a full pass: copies each Messagerie folder
        if self._tmp is None or not users:
            return
        owners = {u.messaging.user: str(u.inventory.owner_id) for u in users if u.messaging and u.messaging.user}
        if self._mail is not None:
            self._mail.close()
        self._mail = ConversationConnector(str(self._tmp / "messagerie"), {"owners": owners})
        yield from self._mail.read_mail()
        # Its problems, named by archive: "<copy>/Messaging/<table>" -> "<archive>:Messagerie/<table>".
        labels = {copy.name: label for label, copy in self._copied.items()}
        folder = MODULES["conversation"][1]
        for problem in self._mail.problems:
            kept = [o for o in problem.occurrences if o[1] != _MISSING_BYTES]  # already a ref.dangling
            extra = problem.count - len(problem.occurrences) if kept else 0  # past the listed: the count only
            for where, detail in kept + kept[-1:] * extra:
                head, _, rest = where.partition("/")
                if head in labels:
                    where = f"{labels[head]}:{folder}/{rest.partition('/')[2]}".rstrip("/")
                self.problems.add(problem.code, where, detail, severity=problem.severity)

    def read_documents(self) -> Iterator[Document | Production]:
        for user in self._users():
            yield from user.records

    def open_blob(self, record: Message | Document | Production) -> IO[bytes]:
        if isinstance(record, Message):
            if self._mail is None:
                raise TerminalError("no message blob before the mail is read")
            return self._mail.open_blob(record)
        if record.sha256 in self._productions:
            return (self._private() / "productions" / record.sha256).open("rb")
        where = self._documents.get(record.sha256)
        if where is None:
            raise TerminalError(f"no blob {record.sha256[:12]} for {record.kind} (read the source first)")
        with Archive(where[0], self.limits) as archive, archive.member(where[1]).open() as fh:
            return io.BytesIO(fh.read())

    def handback_inventory(self) -> Iterator[HandbackInventory]:
        for user in self._users():
            yield user.inventory

    # -- internals -----------------------------------------------------------------------------
    def _archives(self) -> Iterator[tuple[Path, str]]:
        """(user archive path, its name relative to the location), sorted."""
        if self.path.is_dir():
            for child in sorted(self.path.iterdir()):
                if child.suffix == ".zip" or child.is_dir():
                    yield child, child.name
            return
        with Archive(self.path, self.limits, on_problem=self.problems.add) as outer:
            names = outer.names()
            if any(n.count("/") == 1 and n.endswith("/" + MANIFEST) for n in names):
                yield self.path, self.path.name  # one user's archive itself
                return
            for number, name in enumerate(sorted(n for n in names if n.endswith(".zip"))):
                local = self._private() / f"{number}.zip"
                if not local.exists():
                    with outer.member(name).open() as src, local.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
                yield local, name

    def _users(self) -> Iterator[_User]:
        # Each full pass reports its own problems: a second read never doubles the counts.
        self.problems = Problems()
        for path, label in self._archives():
            user = self._read_user(path, label)
            if user is not None:
                yield user

    def _read_user(self, path: Path, label: str) -> _User | None:
        digest = _file_sha256(path) if path.is_file() else ""
        size = path.stat().st_size if path.is_file() else 0
        with Archive(path, self.limits, on_problem=self.problems.add) as archive:
            names = archive.names()
            roots = {n.split("/", 1)[0] for n in names}
            manifests = [n for n in names if n.count("/") == 1 and n.endswith("/" + MANIFEST)]
            if len(roots) != 1 or not manifests:
                self.problems.add("record.invalid", label, "no single <exportId>/ root with a Manifest.json")
                return None
            root = manifests[0].split("/", 1)[0]
            owner = root.split("_", 1)[1] if "_" in root else root
            files = {n[len(root) + 1 :]: n for n in names}

            def read(rel: str) -> bytes:
                with archive.member(files[rel]).open() as fh:
                    return fh.read()

            manifest = self._json(read(MANIFEST), f"{label}:{MANIFEST}")
            declared: dict[str, str] = {}  # folder -> canonical module
            for key, entry in (manifest or {}).items():
                folder = entry.get("folder") if isinstance(entry, Mapping) else None
                if isinstance(folder, str):
                    declared[folder] = _BY_KEY.get(key, key)
            known = {folder: module for module, (_, folder) in MODULES.items()}
            folders = {rel.split("/", 1)[0] for rel in files if "/" in rel}
            content = {f: {r[len(f) + 1 :]: r for r in files if r.startswith(f + "/")} for f in folders}
            signatures = self._signatures(files, read, label, _folders_under(path, root))
            # workspace first: the productions resolve their media in it
            ws_folder = MODULES["workspace"][1]
            ws_files = content.get(ws_folder, {})
            ws_docs = {r: self._json(read(f"{ws_folder}/{r}"), f"{label}:{files[f'{ws_folder}/{r}']}")
                       for r in ws_files if "/" not in r and r.endswith(".json")}  # fmt: skip
            records: list[Document | Production] = []
            modules: list[ModuleInventory] = []
            items, missing, resolvable = self._workspace(owner, ws_docs, ws_files, files, label, records, read, path)
            if ws_docs:
                # the workspace's shares (R13): every principal a document or folder is shared with
                principals = _share_principals(ws_docs.values())
                modules.append(ModuleInventory("shares", False, True, len(principals), references=principals))

            def resolve(doc_id: str) -> tuple[str, bytes] | None:
                target = resolvable.get(doc_id)
                return (target[0], read(target[1])) if target else None

            messaging: Messaging | None = None
            for folder in sorted(set(declared) | folders):
                module = declared.get(folder) or known.get(folder) or folder
                rels = content.get(folder, {})
                if folder == ws_folder:
                    modules.append(ModuleInventory(module, folder in declared, bool(rels), items, tuple(missing)))
                    continue
                if module == "conversation" and rels:
                    messaging = copy_messaging(rels, _under(read, folder), self._copy_dir(label))
                    for _ in messaging.lost:  # one problem per absent file
                        self.problems.add("ref.dangling", f"{label}:{folder}", "a message's attachment file is absent")
                    absent = tuple(f"{owner}|{a}" for a in messaging.lost)
                    modules.append(ModuleInventory(module, folder in declared, True, messaging.held, absent))
                    continue
                if module not in _CONVERTED:
                    # apps we do not convert: inventoried by their files, never parsed here
                    modules.append(ModuleInventory(module, folder in declared, bool(rels), len(rels)))
                    continue
                docs = {r: self._json(read(f"{folder}/{r}"), f"{label}:{files[f'{folder}/{r}']}") for r in rels}
                lost: list[str] = []
                count = 0
                for ref, title, media, data, gone in convert_module(module, docs, resolve, _STAMP):
                    sha = hashlib.sha256(data).hexdigest()
                    self._keep_production(sha, data)
                    records.append(Production(owner_id=owner, app=module, title=title, format=media,
                                              sha256=sha, size=len(data), source_ref=ref))  # fmt: skip
                    count += 1
                    for _ in gone:  # one problem per lost link
                        self.problems.add("ref.dangling", f"{label}:{folder}", "/workspace/document/ file absent")
                    lost += gone
                modules.append(ModuleInventory(module, folder in declared, bool(rels), count, tuple(sorted(set(lost)))))
        inventory = HandbackInventory(
            owner_id=owner,
            modules=tuple(modules),
            signatures=signatures,
            inputs=(InputFile(label, digest, size),) if digest else (),
        )
        return _User(inventory, records, self._person(owner, ws_docs.values(), messaging), messaging)

    def _person(self, owner: str, ws_docs: Iterable[Any], messaging: Messaging | None) -> Person | None:
        """The owner as far as the archive says: the id and the display name entcore shows, unsplit
        (kept whole in ``last_name``: which words are the first name is not in the export)."""
        profile = self.options.profiles.get(owner, self.options.profile)
        if profile is None:
            return None
        names = (d.get("ownerName") for d in ws_docs if isinstance(d, Mapping) and d.get("owner") == owner)
        display = next((str(n) for n in names if n), "") or (messaging.display if messaging else "")
        return Person(id=owner, profile=Profile(profile), last_name=display, first_name="")

    def _private(self) -> Path:
        """The connector's temp folder (0700, removed by close()): inner zips, messaging copies, productions."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="edifice-archive-"))
        return self._tmp

    def _keep_production(self, sha: str, data: bytes) -> None:
        if sha not in self._productions:
            folder = self._private() / "productions"
            folder.mkdir(mode=0o700, exist_ok=True)
            (folder / sha).write_bytes(data)  # content-addressed: the same bytes whatever read wrote them
            self._productions.add(sha)

    def _copy_dir(self, label: str) -> Path:
        """A fresh private folder per user archive, under the conversation connector's root."""
        if label not in self._copied:
            self._copied[label] = self._private() / "messagerie" / f"{len(self._copied):08d}"
        return self._copied[label]

    def _workspace(
        self,
        owner: str,
        docs: Mapping[str, Any],
        ws_files: Mapping[str, str],
        files: Mapping[str, str],
        label: str,
        records: list[Document | Production],
        read: Callable[[str], bytes],
        archive_path: Path,
    ) -> tuple[int, list[str], dict[str, tuple[str, str]]]:
        """Documents of the workspace; returns (items, missing doc ids, doc id -> (type, member))."""
        folders = {d["_id"]: d for d in docs.values() if isinstance(d, Mapping) and d.get("eType") == "folder"}

        def path_of(doc: Mapping[str, Any]) -> str:
            parts, parent, seen = [str(doc.get("name") or doc.get("_id"))], doc.get("eParent"), set()
            while parent in folders and parent not in seen:
                seen.add(parent)
                parts.append(str(folders[parent].get("name") or parent))
                parent = folders[parent].get("eParent")
            return "/".join(reversed(parts))

        missing: list[str] = []
        resolvable: dict[str, tuple[str, str]] = {}
        items = 0
        ws_folder = MODULES["workspace"][1]
        for rel, doc in sorted(docs.items()):
            if not isinstance(doc, Mapping) or doc.get("eType") != "file":
                continue
            meta = doc.get("metadata") or {}
            media = str(meta.get("content-type") or "application/octet-stream")
            stored = str(doc.get("file") or "")
            member = files.get(f"{ws_folder}/{stored}")
            if stored not in ws_files or member is None:
                missing.append(str(doc.get("_id")))
                self.problems.add("ref.dangling", f"{label}:{ws_folder}/{rel}", "the document's file is absent")
                continue
            data = read(f"{ws_folder}/{stored}")
            sha = hashlib.sha256(data).hexdigest()
            self._documents[sha] = (archive_path, member)
            resolvable[str(doc.get("_id"))] = (media, f"{ws_folder}/{stored}")
            items += 1
            modified = _moment(doc.get("modified"))
            records.append(Document(owner_id=owner, path=path_of(doc), sha256=sha, size=len(data),
                                    media_type=media, modified=modified))  # fmt: skip
        return items, missing, resolvable

    def _signatures(
        self, files: Mapping[str, str], read: Callable[[str], bytes], label: str, folders: Iterable[str] = ()
    ) -> tuple[SignatureCheck, ...]:
        """One check per top-level entry, as entcore's ``verifyImport`` does (scheme: layout.py);
        *folders* are the archive's folders under ``<exportId>/``, empty ones included."""
        signed: Mapping[str, Any] = {}
        if SIGNATURE in files:
            signed = self._json(read(SIGNATURE), f"{label}:{files[SIGNATURE]}") or {}
        if not isinstance(signed, Mapping):
            signed = {}
        content: dict[str, list[str]] = {}  # top-level entry -> its files (relative), [] for a file
        for rel in files:
            top, _, rest = rel.partition("/")
            content.setdefault(top, [])
            if rest:
                content[top].append(rest)
        content.pop(SIGNATURE, None)
        subfolders: dict[str, list[str]] = {}  # entcore signs a folder's name, an empty one's too
        for folder in folders:
            top, _, rest = folder.partition("/")
            content.setdefault(top, [])
            if rest:
                subfolders.setdefault(top, []).append(rest)
        # an entry signed but absent is checked as the empty folder it may have been (a zip need not
        # list empty folders): valid if it was empty when signed, invalid if emptied since
        entries = sorted(set(content) | {MANIFEST} | {e for e in signed if isinstance(e, str) and e != SIGNATURE})
        checks = []
        for entry in entries:
            raw = signed.get(entry)
            if not isinstance(raw, str):
                checks.append(SignatureCheck(entry, SignatureStatus.UNSIGNED))
                continue
            if self._key is None:
                checks.append(SignatureCheck(entry, SignatureStatus.NO_KEY))
                continue
            members = content.get(entry, [])
            is_file = entry in files  # a top-level member with no path under it
            try:
                digest = entry_digest(entry, read, members, folder=not is_file, dirs=subfolders.get(entry, ()))
                self._key.verify(
                    base64.b64decode(raw, validate=True), digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())
                )
                status = SignatureStatus.VALID
            except (InvalidSignature, binascii.Error, ValueError):
                status = SignatureStatus.INVALID
            checks.append(SignatureCheck(entry, status))
        return tuple(checks)

    def _json(self, data: bytes, where: str) -> Any:
        try:
            return parse_json(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.problems.add("record.invalid", where, f"not JSON ({type(exc).__name__})")
            return None


def _share_principals(docs: Iterable[Any]) -> tuple[str, ...]:
    """``user:<id>`` / ``group:<id>`` of each entry of the documents' ``shared`` lists (entcore writes
    one object per principal, its rights as ``"<controller>|<method>": true`` keys beside the id)."""
    out: list[str] = []
    for doc in docs:
        entries = doc.get("shared") if isinstance(doc, Mapping) else None
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, Mapping):
                if isinstance(entry.get("userId"), str):
                    out.append(f"user:{entry['userId']}")
                elif isinstance(entry.get("groupId"), str):
                    out.append(f"group:{entry['groupId']}")
    return tuple(out)


def _folders_under(path: Path, root: str) -> set[str]:
    """The folders of a user archive under ``<root>/`` (relative to it), empty ones included: the safe
    Archive lists files only, and entcore's signature streams every folder's name. Names only, no
    content is read; a hostile name is left out (Archive has already reported it)."""
    raw: list[str] = []
    if path.is_dir():
        for folder, subdirs, _ in os.walk(path / root):  # os.walk does not follow links by default
            raw += [os.path.relpath(os.path.join(folder, d), path).replace(os.sep, "/") for d in subdirs]
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                raw = [info.filename for info in archive.infolist() if info.is_dir()]
        except (OSError, zipfile.BadZipFile):
            return set()
    out = set()
    for name in raw:
        try:
            clean = check_member_name(name)
        except ValueError:
            continue
        if clean.startswith(root + "/"):
            out.add(clean[len(root) + 1 :])
    return out


def _under(read: Callable[[str], bytes], folder: str) -> Callable[[str], bytes]:
    return lambda rel: read(f"{folder}/{rel}")


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, Mapping):
        value = value.get("$date")
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
