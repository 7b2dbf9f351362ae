"""What an ``ldap`` target holds and the entry-level operations on it.

:class:`Directory` keeps, per kind, key → where the entry is (one paged search the first time a kind is
written, then kept up to date by our own writes), runs each LDAP operation through the pool (a result
meaning "already done" is not an error: writes are upserts), creates and renames entries to their
deterministic DN, and replaces one record's values inside a multi-valued attribute under a per-entry
lock (read-modify-write: one record's value never erases another's).
"""

from __future__ import annotations

import dataclasses
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import ldap
import ldap.dn
from ldap.filter import escape_filter_chars
from ldap.ldapobject import LDAPObject

from ent_migrate.connectors.ldap.client import TRANSIENT, Pool, ldap_error
from ent_migrate.connectors.ldap.mapping import Codec, Entry, LdapMapping, dn_key, first_rdn
from ent_migrate.errors import TerminalError
from ent_migrate.model import Function, GroupKind, Guardianship, Membership, Profile, RecordKind

__all__ = ["Directory", "Known"]

_LOCKS = 64
_utf8 = bytes.decode  # LDAP strings are UTF-8 (RFC 4517); map() over it is CPython's fastest decode loop


@dataclasses.dataclass(slots=True)
class Known:
    """What the target knows of one entry it holds: where it is, and what SDET writes depend on."""

    dn: str
    profile: Profile | None = None
    kind: GroupKind | None = None


class Directory:
    """The target's entries, reached through *pool*, named by *codec*."""

    def __init__(
        self, pool: Pool, codec: Codec, mapping: LdapMapping, *, page_size: int, lookup_on_create: bool
    ) -> None:
        self.pool = pool
        self.codec = codec
        self.quiet = codec.quiet()
        self.mapping = mapping
        self.page_size = page_size
        self.lookup_on_create = lookup_on_create
        self._index: dict[RecordKind, dict[str, Known]] = {}
        self._index_lock = threading.Lock()
        self._entry_locks = [threading.Lock() for _ in range(_LOCKS)]
        self._containers = False

    def entries(self, kind: str, attrs: list[str]) -> Iterator[Entry]:
        filterstr = self.mapping.filters[kind]
        found = self.pool.search(
            self.codec.base(kind), ldap.SCOPE_SUBTREE, filterstr, attrs, self.page_size, f"search of {kind}"
        )
        for n, (dn, raw) in enumerate(found, start=1):
            where = f"{kind} entry #{n}"
            try:
                decoded = {name.lower(): list(map(_utf8, values)) for name, values in raw.items()}
            except UnicodeDecodeError:
                decoded = {}
                for name, values in raw.items():
                    try:
                        decoded[name.lower()] = list(map(_utf8, values))
                    except UnicodeDecodeError:
                        self.codec.problems.add("encoding.unsupported", where, name)
                        decoded[name.lower()] = [v.decode("utf-8", "replace") for v in values]
            yield Entry(dn, decoded, where)

    def known(self, kind: RecordKind) -> dict[str, Known]:
        """Key → entry of one kind, read once (one paged search) and kept up to date by our writes."""
        with self._index_lock:
            index = self._index.get(kind)
            if index is not None:
                return index
            index = {}
            if kind is RecordKind.STRUCTURE:
                for entry in self.entries("structures", self.codec.structure_attributes()):
                    structure = self.quiet.structure(entry)
                    if structure is not None:
                        index[structure.uai] = Known(entry.dn)
            elif kind is RecordKind.PERSON:
                attrs = [self.mapping.person["id"], self.mapping.profiles["attribute"], "objectClass"]
                for entry in self.entries("people", attrs):
                    pid = self.quiet.remember_person(entry)
                    if pid is not None:
                        index[pid] = Known(entry.dn, profile=self.quiet.profile(entry))
            else:
                for entry in self.entries("groups", self.codec.group_attributes()):
                    group = self.quiet.group(entry)
                    if group is not None:
                        index[group.key] = Known(entry.dn, kind=group.group_kind)
            self._index[kind] = index
            return index

    def lookup(self, kind: RecordKind, key: str) -> Known | None:
        """The entry of *key* if another writer made it since :meth:`known` read the target: one search
        with the key escaped into the filter (RFC 4515), so a key such as ``x*)(uid=*`` matches itself only."""
        base, attribute = {
            RecordKind.STRUCTURE: ("structures", self.mapping.structure["uai"]),
            RecordKind.PERSON: ("people", self.mapping.person["id"]),
            RecordKind.GROUP: ("groups", self.mapping.rdn["group"]),
        }[kind]
        filterstr = f"(&{self.mapping.filters[base]}({attribute}={escape_filter_chars(key)}))"
        attrs = ["objectClass", self.mapping.profiles["attribute"]]
        for dn, raw in self.pool.search(self.codec.base(base), ldap.SCOPE_SUBTREE, filterstr, attrs, 2, "lookup"):
            entry = Entry(dn, {n.lower(): [v.decode("utf-8", "replace") for v in vs] for n, vs in raw.items()}, "")
            classes = {c.lower() for c in entry.values("objectClass")}
            group_kind = (
                GroupKind.GROUP if self.mapping.group["group_object_class"].lower() in classes else GroupKind.CLASS
            )
            return Known(dn, profile=self.quiet.profile(entry), kind=group_kind)
        return None

    def remember(self, kind: RecordKind, key: str, known: Known | None) -> None:
        index = self.known(kind)
        with self._index_lock:
            if known is None:
                index.pop(key, None)
            else:
                index[key] = known

    def structure_ref(self, uai: str) -> str:
        """How a person's values name a structure: its DN (the one it has, or will have), or its UAI."""
        if self.mapping.person["structure_values"] == "uai":
            return uai
        known = self.known(RecordKind.STRUCTURE).get(uai)
        return known.dn if known else self.codec.structure_dn(uai)

    def person(self, person_id: str, what: str) -> Known:
        known = self.known(RecordKind.PERSON).get(person_id)
        if known is None:
            raise TerminalError(
                f"{what}: the person's entry is not on the target (SDET keeps links on the "
                "person entries: write the person first)"
            )
        return known

    def known_prefix(self, key: str) -> str | None:
        """The person id a relation key starts with (ids may hold '|': every cut is tried)."""
        people = self.known(RecordKind.PERSON)
        cuts = [i for i, ch in enumerate(key) if ch == "|"]
        return next((key[:i] for i in cuts if key[:i] in people), None)

    def lock(self, dn: str) -> threading.Lock:
        return self._entry_locks[zlib.crc32(dn_key(dn).encode()) % _LOCKS]

    def op(self, fn: Callable[[LDAPObject], Any], what: str, *, ok: tuple[type[ldap.LDAPError], ...] = ()) -> bool:
        """Run one operation; False when it failed with one of the *ok* results (already done)."""

        def run(conn: LDAPObject) -> bool:
            try:
                fn(conn)
            except ok:
                return False
            return True

        try:
            return self.pool.call(run, what)
        except TRANSIENT:  # pragma: no cover - Pool.call turns these into TransientError
            raise
        except ldap.LDAPError as exc:
            raise TerminalError(f"LDAP {what}: {ldap_error(exc)}") from None

    def ensure_containers(self) -> None:
        if self._containers:
            return
        for kind in ("people", "structures", "groups"):
            dn = self.codec.base(kind)
            parsed = first_rdn(dn)
            if dn == self.codec.base_dn or parsed is None or parsed[0].lower() != "ou":
                continue  # not ours to create
            attrs = [("objectClass", [b"organizationalUnit"]), ("ou", [parsed[1].encode()])]

            def add(conn: LDAPObject, dn: str = dn, attrs: list[tuple[str, list[bytes]]] = attrs) -> None:
                conn.add_s(dn, attrs)

            try:
                self.op(add, "add of a container", ok=(ldap.ALREADY_EXISTS,))
            except TerminalError as exc:
                raise TerminalError(f"{exc} (does the base DN exist on the server?)") from None
        self._containers = True

    def read(self, dn: str, attrs: list[str]) -> dict[str, list[str]] | None:
        try:
            raw = self.pool.read_entry(dn, attrs)
        except ldap.LDAPError as exc:
            raise TerminalError(f"LDAP read: {ldap_error(exc)}") from None
        if raw is None:
            return None
        return {name.lower(): [v.decode("utf-8", "replace") for v in values] for name, values in raw.items()}

    def put(
        self,
        kind: RecordKind,
        key: str,
        dn: str,
        values: dict[str, list[str]],
        classes: list[str],
        known: Known | None,
    ) -> str:
        """Create or update the entry of *key* at its deterministic *dn*; return where it is."""
        self.ensure_containers()
        if known is None and self.lookup_on_create:
            known = self.lookup(kind, key)
        if known is not None and dn_key(known.dn) != dn_key(dn) and self.mapping.rdn["rename"]:
            self.rename(known.dn, dn)
        elif known is not None:
            dn = known.dn
        with self.lock(dn):
            if known is None:
                attrs = [("objectClass", [c.encode() for c in classes])]
                attrs += [(a, [v.encode() for v in vs]) for a, vs in values.items() if vs]
                if self.op(lambda c: c.add_s(dn, attrs), f"add of a {kind}", ok=(ldap.ALREADY_EXISTS,)):
                    return dn
            current = self.read(dn, ["objectClass"])
            if current is None:  # gone since we looked: add it
                attrs = [("objectClass", [c.encode() for c in classes])]
                attrs += [(a, [v.encode() for v in vs]) for a, vs in values.items() if vs]
                self.op(lambda c: c.add_s(dn, attrs), f"add of a {kind}", ok=(ldap.ALREADY_EXISTS,))
                return dn
            have = {c.lower() for c in current.get("objectclass", [])}
            missing = [c for c in classes if c.lower() not in have]
            mods: list[tuple[int, str, list[bytes] | None]] = []
            if missing:
                mods.append((ldap.MOD_ADD, "objectClass", [c.encode() for c in missing]))
            mods += [(ldap.MOD_REPLACE, a, [v.encode() for v in vs]) for a, vs in values.items()]
            self.op(lambda c: c.modify_s(dn, mods), f"update of a {kind}")
        return dn

    def rename(self, old: str, new: str) -> None:
        parts = ldap.dn.str2dn(new)
        new_rdn, parent = ldap.dn.dn2str(parts[:1]), ldap.dn.dn2str(parts[1:])
        self.op(lambda c: c.rename_s(old, new_rdn, parent, delold=0), "rename of an entry", ok=(ldap.NO_SUCH_OBJECT,))

    def replace_values(
        self,
        dn: str,
        attribute: str,
        key: str,
        value: str,
        parse: Callable[[str], Function | Membership | Guardianship | None],
    ) -> None:
        """Replace the values of *attribute* whose record has *key* by *value* (read-modify-write,
        under the entry's lock: one record's value never erases another's)."""
        with self.lock(dn):
            current = self.read(dn, [attribute])
            if current is None:
                raise TerminalError("the person's entry vanished from the target")
            values = current.get(attribute.lower(), [])
            keep = [v for v in values if (r := parse(v)) is None or r.key != key]
            if value in keep and len(keep) == len(values):
                return
            new = [*(v for v in keep if v != value), value]
            mods = [(ldap.MOD_REPLACE, attribute, [v.encode() for v in new])]
            self.op(lambda c: c.modify_s(dn, mods), "update of a link")

    def drop_values(
        self,
        person_id: str,
        attributes: list[str],
        key: str,
        parse: Callable[[str, str, str], Function | Membership | None],
    ) -> None:
        known = self.known(RecordKind.PERSON).get(person_id)
        if known is None:
            return  # the person is gone: so are its values
        with self.lock(known.dn):
            current = self.read(known.dn, attributes) or {}
            mods = []
            for attribute in attributes:
                drop = [
                    v
                    for v in current.get(attribute.lower(), [])
                    if (r := parse(person_id, attribute, v)) is not None and r.key == key
                ]
                if drop:
                    mods.append((ldap.MOD_DELETE, attribute, [v.encode() for v in drop]))
            if mods:
                self.op(lambda c: c.modify_s(known.dn, mods), "removal of a link", ok=(ldap.NO_SUCH_ATTRIBUTE,))

    def delete_entry(self, kind: RecordKind, key: str) -> None:
        known = self.known(kind).get(key)
        dn = (
            known.dn
            if known is not None
            else {
                RecordKind.STRUCTURE: self.codec.structure_dn,
                RecordKind.PERSON: self.codec.person_dn,
                RecordKind.GROUP: self.codec.group_dn,
            }[kind](key)
        )
        self.op(lambda c: c.delete_s(dn), f"delete of a {kind}", ok=(ldap.NO_SUCH_OBJECT,))
        self.remember(kind, key, None)
