"""The ``ldap`` connector: SDET directories (OpenLDAP and others) as a source and as a target.

Location: ``ldaps://HOST[:PORT]/BASE-DN`` or ``ldap://HOST[:PORT]/BASE-DN`` (then with ``start_tls``,
or ``insecure`` for plain LDAP, which every run warns about). People, structures and groups live under
the bases the mapping file names (``mappings/ldap-sdet.toml``: ``ou=people``, ``ou=structures``,
``ou=groups`` of BASE-DN by default).

Options: :class:`LdapOptions`. The bind password arrives expanded from a ``${ENV}`` reference by the
config layer (a literal one is refused there).

Source: paged searches (RFC 2696) of structures, people and groups; one person entry gives a Person,
its Functions, Memberships and Guardianships (see :mod:`.mapping`). Target: deterministic DNs (RDN =
the record's key), an existing entry with the same key elsewhere is renamed there; each record
replaces only the values it owns, so writes are upserts and a retried or resumed write is harmless.
Writes are immediate (``finish`` has nothing to commit); ``close`` unbinds every connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import ldap
import ldap.dn

from ent_migrate.connectors.ldap.client import (
    Endpoint,
    Pool,
    Settings,
    TlsRefusedError,
    parse_location,
)
from ent_migrate.connectors.ldap.directory import Directory, Known
from ent_migrate.connectors.ldap.mapping import Codec, Entry, dn_key, load_mapping
from ent_migrate.contract import (
    Capability,
    CheckResult,
    Connector,
    ConnectorOptions,
    Operation,
    Role,
    TargetRules,
)
from ent_migrate.errors import ConfigError, ConnectorError, TerminalError, UnreachableError
from ent_migrate.model import (
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    RecordKind,
    Structure,
)
from ent_migrate.options import option

__all__ = ["LdapConnector", "LdapOptions"]


@dataclasses.dataclass(frozen=True, slots=True)
class LdapOptions(ConnectorOptions):
    bind_dn: str | None = option(None, "the DN to bind as (none: an anonymous bind)")
    bind_password: str | None = option(None, 'the bind password, as a "${ENV_VAR}" reference')
    ca_file: str | None = option(None, "PEM file of the CA that signs the server certificate (default: system CAs)")
    start_tls: bool = option(False, "on ldap://, switch to TLS (StartTLS) before the bind")
    insecure: bool = option(False, "allow plain ldap:// without TLS: the password travels in clear (warned)")
    mapping: str | None = option(None, "a mapping file whose keys replace those of mappings/ldap-sdet.toml")
    page_size: int = option(1000, "entries per page of a paged search (RFC 2696)")
    concurrency: int = option(4, "connections the target writes through at once")
    connect_timeout: float = option(10.0, "seconds to open a connection")
    timeout: float = option(60.0, "seconds one LDAP operation may take")
    reconnect_attempts: int = option(3, "fresh connections tried after a lost one before a retryable error")
    reconnect_delay: float = option(0.5, "seconds before the first reconnection (then growing)")
    lookup_on_create: bool = option(
        False,
        "before creating an entry, search its key: finds one another writer made during this apply "
        "(one more round trip per create; entries there when the apply began are always found)",
    )

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= 100_000:
            raise ValueError("option page_size must be between 1 and 100000")
        if not 1 <= self.concurrency <= LdapConnector.max_concurrency:
            raise ValueError(f"option concurrency must be between 1 and {LdapConnector.max_concurrency}")
        for name in ("connect_timeout", "timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"option {name} must be more than 0 seconds")
        if self.reconnect_attempts < 0 or self.reconnect_delay < 0:
            raise ValueError("options reconnect_attempts and reconnect_delay must be 0 or more")


class LdapConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "ldap"
    summary: ClassVar[str] = "SDET LDAP directory (people, structures, classes, groups, links) over verified TLS."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE, Role.TARGET})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS, Capability.DELETE, Capability.READ_BACK}
    )
    location_help: ClassVar[str] = "ldaps://HOST[:PORT]/BASE-DN (or ldap://… with start_tls, or insecure)"
    max_concurrency: ClassVar[int] = 16
    Options: ClassVar[type[ConnectorOptions]] = LdapOptions

    options: LdapOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        o = self.options
        self.endpoint: Endpoint = parse_location(location)
        if self.endpoint.tls and o.start_tls:
            raise ConfigError(f"{where or 'ldap options'}: start_tls is for ldap://; ldaps:// is TLS already")
        if not (self.endpoint.tls or o.start_tls or o.insecure):
            raise ConfigError(
                f"{where or 'ldap options'}: plain ldap:// would send the password and every entry in clear: "
                "use ldaps://, or set start_tls = true, or (tests only) insecure = true"
            )
        self.mapping = load_mapping(o.mapping)
        self.codec = Codec(self.mapping, self.endpoint.base_dn, self.problems)
        self._quiet = self.codec.quiet()
        self.pool = Pool(
            Settings(
                self.endpoint,
                o.bind_dn,
                o.bind_password,
                o.ca_file,
                o.start_tls,
                o.insecure,
                o.connect_timeout,
                o.timeout,
                o.reconnect_attempts,
                o.reconnect_delay,
            ),
            o.concurrency,
        )
        self.directory = Directory(
            self.pool, self.codec, self.mapping, page_size=o.page_size, lookup_on_create=o.lookup_on_create
        )
        self._structures_read = False

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        try:
            who = self.pool.call(lambda c: c.whoami_s(), "who am I")
        except TlsRefusedError as exc:
            return CheckResult(reachable=False, authenticated=None, detail=str(exc))
        except UnreachableError as exc:
            return CheckResult(reachable=True, authenticated=False, detail=str(exc))
        except ConnectorError as exc:
            return CheckResult(reachable=False, authenticated=None, detail=str(exc))
        return CheckResult(
            reachable=True,
            authenticated=bool(who) if self.options.bind_dn else None,
            detail=f"{self.endpoint.uri} ({'TLS' if self._tls else 'no TLS'})",
        )

    @property
    def _tls(self) -> bool:
        return self.endpoint.tls or self.options.start_tls

    def notices(self) -> list[str]:
        if not self.options.insecure:
            return []
        if self._tls:
            return [f"ldap {self.endpoint.host}: insecure = true is set; TLS is used anyway (remove the setting)"]
        return [
            f"ldap {self.endpoint.host}: plain LDAP without TLS (insecure = true): the bind password and "
            "every entry travel in clear"
        ]

    def finish(self) -> None:
        """LDAP writes are immediate: nothing to commit."""

    def close(self) -> None:
        self.pool.close()

    # -- source side ---------------------------------------------------------------------------
    def person_ids_are_jointures(self) -> bool:
        """SDET keys people by ``ENTPersonJointure``; a mapping that keys them by ``uid`` (an ENT's own
        id) does not."""
        return str(self.mapping.person["id"]).lower() == "entpersonjointure"

    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        yield from self._read_structures()
        for entry in self.directory.entries("people", self.codec.person_attributes()):
            yield from self.codec.person(entry)

    def read_groups(self) -> Iterator[Group]:
        self._load_structures()
        seen: set[str] = set()
        for entry in self.directory.entries("groups", self.codec.group_attributes()):
            group = self.codec.group(entry)
            if group is not None and group.key not in seen:
                seen.add(group.key)
                yield group
        if not self.mapping.group["implied"]:
            return
        implied: dict[str, Group] = {}
        for entry in self.directory.entries("people", [self.mapping.person["id"], *self.codec.link_attributes()]):
            pid = entry.first(self.mapping.person["id"]) or "?"
            for membership, kind in self._quiet.memberships(pid, entry):
                key = f"{membership.uai}${membership.group_code}"
                if key not in seen and key not in implied:
                    implied[key] = Group(
                        uai=membership.uai, code=membership.group_code, group_kind=kind, name=membership.group_code
                    )
        yield from (implied[k] for k in sorted(implied))

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        self._load_structures()
        pupils_of: list[tuple[str, str, str]] = []  # (guardian id, pupil DN, where): resolved at the end
        emitted: set[str] = set()
        attrs = [self.mapping.person["id"], *self.codec.link_attributes()]
        for entry in self.directory.entries("people", attrs):
            pid = self.codec.remember_person(entry)
            if pid is None:
                self.problems.add("record.missing-field", entry.where, self.mapping.person["id"])
                continue
            for membership, _ in self.codec.memberships(pid, entry):
                yield membership
            for link in self.codec.guardianships(pid, entry):
                emitted.add(link.key)
                yield link
            pupils_of.extend((pid, dn, entry.where) for dn in entry.values(self.mapping.links["guardian_pupils"]))
        for gid, dn, where in pupils_of:
            sid = self.codec.person_from_dn(dn)
            if sid is None:
                self.problems.add("ref.dangling", where, self.mapping.links["guardian_pupils"])
                continue
            link = Guardianship(guardian_id=gid, student_id=sid)
            if link.key not in emitted:  # only the guardian's entry says it: no flags
                emitted.add(link.key)
                yield link

    # -- target side ---------------------------------------------------------------------------
    def rules(self) -> TargetRules:
        # sn is required by the person class: a person without a last name cannot be written
        return TargetRules(required={RecordKind.PERSON: ("last_name",)})

    def write_account(self, op: Operation) -> None:
        record = op.record
        if isinstance(record, Structure):
            self._put_structure(record)
        elif isinstance(record, Person):
            self._put_person(record)
        elif isinstance(record, Function):
            self._put_function(record)
        else:  # pragma: no cover - the contract routes only these kinds here
            raise TerminalError(f"write_account got a {op.kind}")

    def write_group(self, op: Operation) -> None:
        assert isinstance(op.record, Group), "write_group carries a Group"
        self._put_group(op.record)

    def write_relation(self, op: Operation) -> None:
        record = op.record
        if isinstance(record, Membership):
            self._put_membership(record)
        elif isinstance(record, Guardianship):
            self._put_guardianship(record)
        else:  # pragma: no cover - the contract routes only these kinds here
            raise TerminalError(f"write_relation got a {op.kind}")

    def delete(self, kind: RecordKind, key: str) -> None:
        if kind in (RecordKind.STRUCTURE, RecordKind.PERSON, RecordKind.GROUP):
            self.directory.delete_entry(kind, key)
        elif kind is RecordKind.FUNCTION:
            person_id = key.rsplit("|", 3)[0]
            self.directory.drop_values(
                person_id,
                [self.mapping.person["functions"]],
                key,
                lambda pid, attr, value: self._quiet.function(pid, value, ""),
            )
        elif kind is RecordKind.MEMBERSHIP:
            member = self.directory.known_prefix(key)
            if member is not None:
                self.directory.drop_values(
                    member,
                    self.codec.link_attributes(),
                    key,
                    lambda pid, attr, value: self._quiet.membership(pid, attr, value, ""),
                )
        elif kind is RecordKind.GUARDIANSHIP:
            self._delete_guardianship(key)
        else:
            raise TerminalError(f"the ldap target holds no {kind}")

    # -- internals: reading ----------------------------------------------------------------------
    def _read_structures(self) -> Iterator[Structure]:
        self._structures_read = True
        for entry in self.directory.entries("structures", self.codec.structure_attributes()):
            structure = self.codec.structure(entry)
            if structure is not None:
                yield structure

    def _load_structures(self) -> None:
        """Structure DN → UAI, for the ``$``-values that name a structure by its DN."""
        if not self._structures_read:
            for _ in self._quiet_structures():
                pass

    def _quiet_structures(self) -> Iterator[Structure]:
        self._structures_read = True
        for entry in self.directory.entries("structures", self.codec.structure_attributes()):
            structure = self._quiet.structure(entry)
            if structure is not None:
                yield structure

    # -- internals: records (the entry-level work is the Directory's) -------------------------
    def _put_structure(self, record: Structure) -> None:
        known = self.directory.known(RecordKind.STRUCTURE).get(record.uai)
        dn = self.directory.put(
            RecordKind.STRUCTURE,
            record.uai,
            self.codec.structure_dn(record.uai),
            self.codec.structure_values(record),
            list(self.mapping.structure["object_classes"]),
            known,
        )
        self.codec.uai_of_dn[dn_key(dn)] = record.uai
        self.directory.remember(RecordKind.STRUCTURE, record.uai, Known(dn))

    def _put_person(self, record: Person) -> None:
        known = self.directory.known(RecordKind.PERSON).get(record.id)
        values = self.codec.person_values(record, self.directory.structure_ref)
        dn = self.directory.put(
            RecordKind.PERSON,
            record.id,
            self.codec.person_dn(record.id),
            values,
            self.codec.person_classes(record),
            known,
        )
        self.codec.id_of_dn[dn_key(dn)] = record.id
        self.directory.remember(RecordKind.PERSON, record.id, Known(dn, profile=record.profile))

    def _put_group(self, record: Group) -> None:
        known = self.directory.known(RecordKind.GROUP).get(record.key)
        wanted = self.codec.group_class(record.group_kind)
        if known is not None and known.kind is not record.group_kind:
            # A class became a group (or back): the structural class of an entry cannot change.
            self.directory.delete_entry(RecordKind.GROUP, record.key)
            known = None
        dn = self.directory.put(
            RecordKind.GROUP,
            record.key,
            self.codec.group_dn(record.key),
            self.codec.group_values(record),
            [wanted],
            known,
        )
        self.directory.remember(RecordKind.GROUP, record.key, Known(dn, kind=record.group_kind))

    def _put_function(self, record: Function) -> None:
        person = self.directory.person(record.person_id, "function")
        value = self.codec.function_value(record, self.directory.structure_ref(record.uai))
        attribute = self.mapping.person["functions"]
        self.directory.replace_values(
            person.dn, attribute, record.key, value, lambda v: self._quiet.function(record.person_id, v, "")
        )

    def _put_membership(self, record: Membership) -> None:
        person = self.directory.person(record.person_id, "membership")
        group = self.directory.known(RecordKind.GROUP).get(f"{record.uai}${record.group_code}")
        kind = group.kind if group is not None and group.kind is not None else GroupKind.CLASS
        attribute = self.codec.link_attribute(person.profile, kind, record.subject is not None)
        value = self.codec.membership_value(record, self.directory.structure_ref(record.uai))
        mods = [(ldap.MOD_ADD, attribute, [value.encode()])]
        self.directory.op(lambda c: c.modify_s(person.dn, mods), "add of a membership", ok=(ldap.TYPE_OR_VALUE_EXISTS,))

    def _put_guardianship(self, record: Guardianship) -> None:
        pupil = self.directory.person(record.student_id, "guardianship")
        attribute = self.mapping.links["pupil_guardians"]
        self.directory.replace_values(
            pupil.dn,
            attribute,
            record.key,
            self.codec.guardianship_value(record),
            lambda v: self._guardianship_of(record.student_id, v),
        )
        guardian = self.directory.known(RecordKind.PERSON).get(record.guardian_id)
        back = self.mapping.links["guardian_pupils"]
        if guardian is None or not back:
            return  # the pupil's value says it all; the guardian's entry gets it when both are written
        mods = [(ldap.MOD_ADD, back, [pupil.dn.encode()])]
        try:
            self.directory.op(
                lambda c: c.modify_s(guardian.dn, mods), "add of a guardian's pupil", ok=(ldap.TYPE_OR_VALUE_EXISTS,)
            )
            return
        except TerminalError:
            pass  # an object class violation: a person of another profile (a teacher who is a parent)
        with self.directory.lock(guardian.dn):
            current = self.directory.read(guardian.dn, ["objectClass"]) or {}
            have = {c.lower() for c in current.get("objectclass", [])}
            wanted = [c for c in self.mapping.profiles["object_classes"]["guardian"] if c.lower() not in have]
            if wanted:
                mods.insert(0, (ldap.MOD_ADD, "objectClass", [c.encode() for c in wanted]))
            self.directory.op(
                lambda c: c.modify_s(guardian.dn, mods), "add of a guardian's pupil", ok=(ldap.TYPE_OR_VALUE_EXISTS,)
            )

    def _guardianship_of(self, pid: str, value: str) -> Guardianship | None:
        entry = Entry("", {self.mapping.links["pupil_guardians"].lower(): [value]}, "")
        return next(iter(self._quiet.guardianships(pid, entry)), None)

    def _delete_guardianship(self, key: str) -> None:
        people = self.directory.known(RecordKind.PERSON)
        cuts = [i for i, ch in enumerate(key) if ch == "|"]
        sid = next((key[i + 1 :] for i in cuts if key[i + 1 :] in people), None)
        if sid is None:
            return
        gid = key[: len(key) - len(sid) - 1]
        pupil = people[sid]
        attribute = self.mapping.links["pupil_guardians"]
        with self.directory.lock(pupil.dn):
            current = self.directory.read(pupil.dn, [attribute]) or {}
            drop = [
                v
                for v in current.get(attribute.lower(), [])
                if (r := self._guardianship_of(sid, v)) is not None and r.key == key
            ]
            if drop:
                mods = [(ldap.MOD_DELETE, attribute, [v.encode() for v in drop])]
                self.directory.op(
                    lambda c: c.modify_s(pupil.dn, mods), "removal of a guardianship", ok=(ldap.NO_SUCH_ATTRIBUTE,)
                )
        guardian = people.get(gid)
        back = self.mapping.links["guardian_pupils"]
        if guardian is not None and back:
            mods = [(ldap.MOD_DELETE, back, [pupil.dn.encode()])]
            self.directory.op(
                lambda c: c.modify_s(guardian.dn, mods),
                "removal of a guardian's pupil",
                ok=(ldap.NO_SUCH_ATTRIBUTE, ldap.OBJECT_CLASS_VIOLATION),
            )
