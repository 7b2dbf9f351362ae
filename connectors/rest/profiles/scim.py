"""SCIM 2.0 (RFC 7643, RFC 7644): Users and Groups, the Enterprise extension and the ENT extensions.

Mapping (lossless for everything the canonical model holds, through the ENT extensions of
:mod:`.scim_schema`):

==============  ==========================================================================================
Person          a User: ``externalId`` = id, ``userName`` = login (the id when there is none, flagged
                ``generatedUserName``), ``name.familyName/givenName/honorificPrefix``, ``emails`` (first is
                primary), ``active``, ``userType`` = profile; Enterprise ``organization`` = first UAI;
                ENT: profile, structures, ine, birthDate, birthName, otherFirstNames, sourceIds
Function        an entry of the User's ENT ``functions``
Membership      an entry of the User's ENT ``classes`` *and* the User among the Group's ``members``
Guardianship    an entry of the pupil's ENT ``relatives`` (the guardian's externalId, legalLevel, kinship)
Structure       a Group, ``externalId`` = ``structure:UAI``, ENT ``entKind`` = structure
Group           a Group, ``externalId`` = ``group:UAI$code``, ``displayName`` = name, ENT ``entKind`` = class
                or group, uai, code, name, level
==============  ==========================================================================================

Idempotent creates: SCIM has no idempotency key, so a create first looks the ``externalId`` up — in an
index of the target's externalIds listed once (``prefetch_index``), or with ``filter=externalId eq "…"``
— and a create whose answer was lost (a timeout, a cut connection) is always looked up again before it
is retried: it is found, never duplicated. Links are read-modify-write on the User with ``If-Match``
(a 412 re-reads), so concurrent writers never lose each other's entries; a membership's two changes go
in one ``/Bulk`` request when the server advertises Bulk. Lists are paged with ``startIndex``/``count``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from ent_migrate.connectors.rest.profiles.base import Profile
from ent_migrate.connectors.rest.profiles.scim_schema import ENT_GROUP, ENT_USER
from ent_migrate.contract import Capability, Operation, Role
from ent_migrate.errors import TerminalError, TransientError
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
from ent_migrate.model import (
    Profile as PersonProfile,
)

__all__ = ["ScimProfile", "group_body", "person_from_user", "record_from_group", "user_body"]

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
_LINKS = ("functions", "classes", "relatives")
_MODIFY_ATTEMPTS = 8
_DATA = (Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS, Capability.DELETE)


# -- mapping (pure) --------------------------------------------------------------------------------
def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


def user_body(person: Person, links: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SCIM User for *person*, carrying *links* (the ENT functions/classes/relatives) unchanged."""
    ext = _drop_empty(
        {
            "profile": str(person.profile),
            "structures": list(person.structures),
            "ine": person.ine,
            "birthDate": person.birth_date.isoformat() if person.birth_date else None,
            "birthName": person.birth_name,
            "otherFirstNames": list(person.other_first_names),
            "sourceIds": list(person.source_ids),
            "generatedUserName": True if not person.login else None,
        }
    )
    for name in _LINKS:
        if links and links.get(name):
            ext[name] = links[name]
    body: dict[str, Any] = {
        "schemas": [CORE_USER, ENTERPRISE, ENT_USER],
        "externalId": person.id,
        "userName": person.login or person.id,
        "name": _drop_empty(
            {"familyName": person.last_name, "givenName": person.first_name, "honorificPrefix": person.civility}
        ),
        "active": person.active,
        "userType": str(person.profile),
        ENT_USER: ext,
    }
    if person.emails:
        body["emails"] = [
            {"value": e, "primary": i == 0} | ({"type": "work"} if i == 0 else {}) for i, e in enumerate(person.emails)
        ]
    if person.structures:
        body[ENTERPRISE] = {"organization": person.structures[0]}
    return body


def _date(text: Any) -> dt.date | None:
    return dt.date.fromisoformat(text) if isinstance(text, str) and text else None


def person_from_user(user: dict[str, Any]) -> Person:
    """The Person a SCIM User holds; ``ValueError``/``KeyError`` when it cannot be one."""
    ext = user.get(ENT_USER) or {}
    name = user.get("name") or {}
    profile = PersonProfile(ext.get("profile") or user.get("userType") or "")
    generated = bool(ext.get("generatedUserName"))
    emails = sorted(user.get("emails") or [], key=lambda e: not e.get("primary", False))
    return Person(
        id=str(user["externalId"]),
        profile=profile,
        last_name=name.get("familyName") or "",
        first_name=name.get("givenName") or "",
        birth_name=ext.get("birthName"),
        birth_date=_date(ext.get("birthDate")),
        ine=ext.get("ine"),
        emails=tuple(e["value"] for e in emails if e.get("value")),
        structures=tuple(ext.get("structures") or ()),
        login=None if generated else user.get("userName"),
        other_first_names=tuple(ext.get("otherFirstNames") or ()),
        civility=name.get("honorificPrefix"),
        source_ids=tuple(ext.get("sourceIds") or ()),
        active=bool(user.get("active", True)),
    )


def _group_external_id(record: Structure | Group) -> str:
    return f"structure:{record.uai}" if isinstance(record, Structure) else f"group:{record.key}"


def group_body(record: Structure | Group) -> dict[str, Any]:
    if isinstance(record, Structure):
        ext = {
            "entKind": "structure",
            "uai": record.uai,
            "name": record.name,
            "type": record.type,
            "jointure": record.jointure,
            "city": record.city,
        }
        display = record.name or record.uai
    else:
        ext = {
            "entKind": str(record.group_kind),
            "uai": record.uai,
            "code": record.code,
            "name": record.name,
            "level": record.level,
        }
        display = record.name or record.code
    return {
        "schemas": [CORE_GROUP, ENT_GROUP],
        "externalId": _group_external_id(record),
        "displayName": display or "-",
        ENT_GROUP: _drop_empty(ext),
    }


def record_from_group(group: dict[str, Any]) -> Structure | Group:
    ext = group.get(ENT_GROUP) or {}
    kind = ext.get("entKind")
    if kind == "structure":
        return Structure(
            uai=ext["uai"],
            name=ext.get("name") or "",
            type=ext.get("type") or "",
            jointure=ext.get("jointure"),
            city=ext.get("city"),
        )
    if kind in (GroupKind.CLASS, GroupKind.GROUP):
        return Group(
            uai=ext["uai"],
            code=ext["code"],
            group_kind=GroupKind(kind),
            name=ext.get("name") or "",
            level=ext.get("level"),
        )
    raise ValueError("a Group without the ENT extension (entKind)")


def _function_entry(f: Function) -> dict[str, Any]:
    return _drop_empty({"uai": f.uai, "code": f.code, "discipline": f.discipline, "label": f.label})


def _class_entry(m: Membership) -> dict[str, Any]:
    return _drop_empty({"uai": m.uai, "code": m.group_code, "subject": m.subject})


def _relative_entry(g: Guardianship) -> dict[str, Any]:
    return _drop_empty({"guardian": g.guardian_id, "legalLevel": g.legal_level, "kinship": g.kinship})


def links_from_user(user: dict[str, Any]) -> Iterator[Function | Membership | Guardianship]:
    ext = user.get(ENT_USER) or {}
    pid = str(user["externalId"])
    for f in ext.get("functions") or ():
        yield Function(
            person_id=pid, uai=f["uai"], code=f["code"], discipline=f.get("discipline"), label=f.get("label")
        )
    for c in ext.get("classes") or ():
        yield Membership(person_id=pid, uai=c["uai"], group_code=c["code"], subject=c.get("subject"))
    for r in ext.get("relatives") or ():
        yield Guardianship(
            guardian_id=r["guardian"], student_id=pid, legal_level=r.get("legalLevel"), kinship=r.get("kinship")
        )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- the profile -------------------------------------------------------------------------------------
class ScimProfile(Profile):
    name: ClassVar[str] = "scim"
    summary: ClassVar[str] = "SCIM 2.0 (RFC 7643/7644) Users and Groups with the Enterprise and ENT extensions"
    supports: ClassVar[dict[Role, frozenset[Capability]]] = {
        Role.SOURCE: frozenset(_DATA[:3]),
        Role.TARGET: frozenset(_DATA),
    }
    default_auth: ClassVar[str] = "bearer"
    notes: ClassVar[str] = (
        "idempotent creates by externalId; PATCH for group members; /Bulk when advertised; "
        "paging with startIndex/count; ETag If-Match on read-modify-write"
    )

    def __init__(self, client: Any, options: Any, problems: Any) -> None:
        super().__init__(client, options, problems)
        self._ids: dict[tuple[str, str], str] = {}  # (endpoint, externalId) -> SCIM id
        self._indexed: set[str] = set()
        self._uncertain: set[tuple[str, str]] = set()  # creates whose answer was lost
        self._lock = threading.Lock()
        self._index_locks = {"Users": threading.Lock(), "Groups": threading.Lock()}
        self._bulk: bool | None = None

    # -- error decoding --------------------------------------------------------------------------
    def error_message(self, status: int, payload: Any) -> str:
        if isinstance(payload, dict):
            kind = payload.get("scimType")
            return f"{kind}: {payload.get('detail', '')}" if kind else str(payload.get("detail") or "error")
        return "error"

    # -- lifecycle -------------------------------------------------------------------------------
    def check(self) -> str:
        config = self.client.request("GET", "/ServiceProviderConfig").payload or {}
        self._bulk = bool((config.get("bulk") or {}).get("supported")) and self.options.bulk
        listed = self.client.request("GET", "/Users", params={"count": 0}).payload or {}
        schemas = {s.get("id") for s in (self.client.request("GET", "/Schemas").payload or {}).get("Resources", [])}
        missing = [s for s in (ENT_USER, ENT_GROUP) if s not in schemas]
        ext = "ENT extensions published" if not missing else f"missing schema {', '.join(missing)}"
        return f"SCIM {listed.get('totalResults', '?')} users; bulk {'on' if self._bulk else 'off'}; {ext}"

    # -- readers ---------------------------------------------------------------------------------
    def _list(self, endpoint: str, attributes: str | None = None) -> Iterator[dict[str, Any]]:
        start, size = 1, self.options.page_size
        while True:
            params: dict[str, Any] = {"startIndex": start, "count": size}
            if attributes:
                params["attributes"] = attributes
            page = self.client.request("GET", f"/{endpoint}", params=params).payload or {}
            resources = page.get("Resources") or []
            yield from resources
            start += len(resources)
            if not resources or start > int(page.get("totalResults", 0)):
                return

    def _users(self) -> Iterator[dict[str, Any]]:
        for user in self._list("Users"):
            if not user.get("externalId"):
                self.problems.add("record.missing-field", f"SCIM User {user.get('id')}", "no externalId")
                continue
            yield user

    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        for group in self._list("Groups"):
            if (group.get(ENT_GROUP) or {}).get("entKind") == "structure":
                record = self._record(record_from_group, group, "Group")
                if isinstance(record, Structure):
                    yield record
        for user in self._users():
            person = self._record(person_from_user, user, "User")
            if isinstance(person, Person):
                yield person
                yield from (f for f in links_from_user(user) if isinstance(f, Function))

    def read_groups(self) -> Iterator[Group]:
        for group in self._list("Groups"):
            if (group.get(ENT_GROUP) or {}).get("entKind") == "structure":
                continue
            record = self._record(record_from_group, group, "Group")
            if isinstance(record, Group):
                yield record

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        for user in self._users():
            try:
                links = list(links_from_user(user))
            except (KeyError, ValueError, TypeError) as exc:
                self.problems.add("record.invalid", f"SCIM User {user.get('id')}", f"ENT links: {type(exc).__name__}")
                continue
            yield from (r for r in links if isinstance(r, Membership | Guardianship))

    def _record(self, build: Callable[[dict[str, Any]], Any], resource: dict[str, Any], what: str) -> Any:
        try:
            return build(resource)
        except (KeyError, ValueError, TypeError) as exc:
            # Never the resource's content in a message: its SCIM id only.
            self.problems.add("record.invalid", f"SCIM {what} {resource.get('id')}", str(exc).split(":")[0][:80])
            return None

    # -- id lookups --------------------------------------------------------------------------------
    def _find(self, endpoint: str, external_id: str) -> str | None:
        key = (endpoint, external_id)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
            known_absent = endpoint in self._indexed and key not in self._uncertain
        if self.options.prefetch_index and endpoint not in self._indexed:
            self._index(endpoint)
            with self._lock:
                if key in self._ids:
                    return self._ids[key]
                known_absent = key not in self._uncertain
        if known_absent:
            return None
        page = (
            self.client.request(
                "GET", f"/{endpoint}", params={"filter": f"externalId eq {_quote(external_id)}", "attributes": "id"}
            ).payload
            or {}
        )
        found = [r["id"] for r in page.get("Resources") or []]
        if len(found) > 1:
            raise TerminalError(f"{endpoint}: {len(found)} resources share one externalId; fix the target first")
        with self._lock:
            self._uncertain.discard(key)
            if found:
                self._ids[key] = found[0]
        return found[0] if found else None

    def _index(self, endpoint: str) -> None:
        with self._index_locks[endpoint]:
            if endpoint in self._indexed:
                return
            ids = {
                (endpoint, str(r["externalId"])): r["id"]
                for r in self._list(endpoint, "id,externalId")
                if r.get("externalId")
            }
            with self._lock:
                self._ids.update(ids)
                self._indexed.add(endpoint)

    def _forget(self, endpoint: str, external_id: str) -> None:
        with self._lock:
            self._ids.pop((endpoint, external_id), None)

    # -- writers ---------------------------------------------------------------------------------
    def write(self, op: Operation) -> None:
        record = op.record
        assert record is not None, "writes carry a record; deletes go to delete()"
        if isinstance(record, Person):
            self._upsert_user(record)
        elif isinstance(record, Structure | Group):
            self._upsert_group(record)
        elif isinstance(record, Function):
            self._modify_user(record.person_id, "functions", _function_entry(record), add=True)
        elif isinstance(record, Membership):
            self._membership(record, add=True)
        elif isinstance(record, Guardianship):
            self._modify_user(record.student_id, "relatives", _relative_entry(record), add=True)
        else:
            raise TerminalError(f"the scim profile does not carry {record.kind}")

    def _create(self, endpoint: str, external_id: str, body: dict[str, Any]) -> str | None:
        """POST; None when the server says the resource already exists (409: look it up instead)."""
        key = (endpoint, external_id)
        try:
            reply = self.client.request("POST", f"/{endpoint}", json_body=body)
        except TransientError:
            with self._lock:  # the create may have landed: look it up before the retry
                self._uncertain.add(key)
            raise
        except TerminalError as exc:
            if " 409 " in f" {exc} ":
                with self._lock:
                    self._uncertain.add(key)
                return None
            raise
        new_id = str((reply.payload or {})["id"])
        with self._lock:
            self._ids[key] = new_id
        return new_id

    def _upsert_user(self, person: Person) -> None:
        existing = self._find("Users", person.id)
        if existing is None:
            if self._create("Users", person.id, user_body(person)) is not None:
                return
            existing = self._find("Users", person.id)
            if existing is None:
                raise TerminalError("Users: userName already taken by another account (409)")
        self._modify("Users", person.id, existing, lambda user: user_body(person, user.get(ENT_USER) or {}))

    def _upsert_group(self, record: Structure | Group) -> None:
        external_id = _group_external_id(record)
        existing = self._find("Groups", external_id)
        body = group_body(record)
        if existing is None:
            if self._create("Groups", external_id, body) is not None:
                return
            existing = self._find("Groups", external_id)
            if existing is None:
                raise TerminalError("Groups: conflict (409) but no group with this externalId")

        def keep_members(group: dict[str, Any]) -> dict[str, Any]:
            return body | ({"members": group["members"]} if group.get("members") else {})

        self._modify("Groups", external_id, existing, keep_members)

    def _modify(
        self,
        endpoint: str,
        external_id: str,
        scim_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        extra: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> None:
        """GET, change, PUT with If-Match; a 412 (someone else wrote in between) starts again."""
        for _ in range(_MODIFY_ATTEMPTS):
            try:
                reply = self.client.request("GET", f"/{endpoint}/{scim_id}")
            except TerminalError as exc:
                if " 404 " in f" {exc} ":  # deleted behind our back: forget the stale id
                    self._forget(endpoint, external_id)
                    raise TransientError(f"{endpoint}: the resource vanished; it will be looked up again") from None
                raise
            current = reply.payload or {}
            wanted = change(current)
            if wanted is None:
                return
            etag = reply.headers.get("ETag")
            headers = {"If-Match": etag} if etag else {}
            other = extra(wanted) if extra else None
            try:
                if other is not None and self._bulk_supported():
                    self._bulk_ops(
                        [
                            {
                                "method": "PUT",
                                "path": f"/{endpoint}/{scim_id}",
                                "data": wanted,
                                **({"version": etag} if etag else {}),
                            },
                            other,
                        ]
                    )
                else:
                    self.client.request("PUT", f"/{endpoint}/{scim_id}", json_body=wanted, headers=headers)
                    if other is not None:
                        self.client.request(other["method"], other["path"], json_body=other["data"])
                return
            except TerminalError as exc:
                if " 412 " not in f" {exc} ":
                    raise
        raise TransientError(f"{endpoint}: the resource kept changing under us ({_MODIFY_ATTEMPTS} attempts)")

    def _modify_user(
        self,
        person_id: str,
        attribute: str,
        entry: dict[str, Any],
        *,
        add: bool,
        extra: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> None:
        scim_id = self._find("Users", person_id)
        if scim_id is None:
            if not add:
                return
            raise TerminalError(f"no SCIM User for the person this {attribute[:-1]} links (write the person first)")
        same = _same_entry(attribute)

        def change(user: dict[str, Any]) -> dict[str, Any] | None:
            ext = dict(user.get(ENT_USER) or {})
            entries = [e for e in ext.get(attribute) or [] if not same(e, entry)]
            if add:
                entries.append(entry)
            if sorted(map(repr, entries)) == sorted(map(repr, ext.get(attribute) or [])):
                # Nothing to change on the User; a membership still makes sure of the Group's member
                # (its first write may have lost its answer between the two changes).
                return None if extra is None else _writable(user)
            ext[attribute] = entries
            if not entries:
                ext.pop(attribute)
            return _writable(user) | {ENT_USER: ext}

        self._modify("Users", person_id, scim_id, change, extra)

    def _membership(self, m: Membership, *, add: bool) -> None:
        group_id = self._find("Groups", f"group:{m.uai}${m.group_code}")

        def member_patch(user: dict[str, Any]) -> dict[str, Any] | None:
            scim_id = self._find("Users", m.person_id)
            if group_id is None or scim_id is None:
                return None
            others = [
                c
                for c in (user.get(ENT_USER) or {}).get("classes") or []
                if (c.get("uai"), c.get("code")) == (m.uai, m.group_code)
            ]
            if not add and others:
                return None  # still in the group under another subject
            op = (
                {"op": "add", "path": "members", "value": [{"value": scim_id}]}
                if add
                else {"op": "remove", "path": f'members[value eq "{scim_id}"]'}
            )
            return {
                "method": "PATCH",
                "path": f"/Groups/{group_id}",
                "data": {"schemas": [PATCH_OP], "Operations": [op]},
            }

        self._modify_user(m.person_id, "classes", _class_entry(m), add=add, extra=member_patch)

    # -- bulk ------------------------------------------------------------------------------------
    def _bulk_supported(self) -> bool:
        if self._bulk is None:
            config = self.client.request("GET", "/ServiceProviderConfig").payload or {}
            self._bulk = bool((config.get("bulk") or {}).get("supported")) and self.options.bulk
        return self._bulk

    def _bulk_ops(self, operations: list[dict[str, Any]]) -> None:
        body = {"schemas": [BULK_REQUEST], "failOnErrors": 1, "Operations": operations}
        reply = self.client.request("POST", "/Bulk", json_body=body)
        for result in (reply.payload or {}).get("Operations") or []:
            status = str(result.get("status", "200"))
            code = int(status.split()[0]) if status.split() else 200
            if code >= 400:
                detail = (result.get("response") or {}).get("detail", "")
                if code in (429, 503) or code >= 500:
                    raise TransientError(f"Bulk {result.get('method')}: {code}")
                raise TerminalError(f"Bulk {result.get('method')}: {code} {detail}")

    # -- delete ----------------------------------------------------------------------------------
    def delete(self, kind: RecordKind, key: str) -> None:
        if kind is RecordKind.PERSON:
            self._delete("Users", key)
        elif kind is RecordKind.STRUCTURE:
            self._delete("Groups", f"structure:{key}")
        elif kind is RecordKind.GROUP:
            self._delete("Groups", f"group:{key}")
        elif kind is RecordKind.FUNCTION:
            person, uai, code, discipline = key.split("|", 3)
            entry = _drop_empty({"uai": uai, "code": code, "discipline": discipline or None})
            self._modify_user(person, "functions", entry, add=False)
        elif kind is RecordKind.MEMBERSHIP:
            person, group, subject = key.split("|", 2)
            uai, _, code = group.partition("$")
            self._membership(Membership(person_id=person, uai=uai, group_code=code, subject=subject or None), add=False)
        elif kind is RecordKind.GUARDIANSHIP:
            guardian, student = key.split("|", 1)
            self._modify_user(student, "relatives", {"guardian": guardian}, add=False)
        else:
            raise TerminalError(f"the scim profile does not carry {kind}")

    def _delete(self, endpoint: str, external_id: str) -> None:
        scim_id = self._find(endpoint, external_id)
        if scim_id is None:
            return
        try:
            self.client.request("DELETE", f"/{endpoint}/{scim_id}")
        except TerminalError as exc:
            if " 404 " not in f" {exc} ":
                raise
        self._forget(endpoint, external_id)


def _same_entry(attribute: str) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    """Entries with the same identity as the canonical key (a function's discipline, a class's subject)."""
    fields = {
        "functions": ("uai", "code", "discipline"),
        "classes": ("uai", "code", "subject"),
        "relatives": ("guardian",),
    }[attribute]
    return lambda a, b: all(a.get(f) == b.get(f) for f in fields)


def _writable(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("meta", "id")}
