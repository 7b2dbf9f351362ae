"""Edifice / entcore (ONE, NEO and every Open ENT NG site): the directory module's HTTP routes.

entcore creates its accounts, structures and classes from its feeder (AAF or CSV imports): its API's manual
creation (``POST /directory/api/user``) gives the new account a generated ``externalId``, so it cannot
keep the source's key and this profile never creates accounts. It reads the directory, updates the
accounts it finds by ``externalId``, and writes the links:

==============  ===================================================================================
Group           a class (``/directory/class/admin/list``) or a manual group, code = name = entcore's name
read            ``GET /directory/structure/admin/list``; ``GET /directory/user/list/by/structure?uai=``
                (whole arrays, one row per user and structure); ``GET /directory/class/admin/list``,
                ``GET /directory/class/:id/users``; ``GET /directory/group/admin/list``,
                ``GET /directory/user/group/:id``; ``GET /directory/user/:id/children``
Person          ``externalId`` = id; ``profiles`` (Student, Relative, Teacher, Personnel); firstName,
                lastName, login, email; the UAIs of its rows. Updated with ``PUT /directory/user/:id``
                (only fields of entcore's ``updateUser`` schema: it refuses any other with a 400)
Membership      ``PUT /directory/class/:id/link`` ``{"ids": [...]}`` for a class,
                ``PUT /directory/group/:id/users/add`` ``{"userIds": [...]}`` for a manual group
Guardianship    ``PUT /directory/user/:studentId/related/:relativeId``
==============  ===================================================================================

Not carried: functions, INE, birth date (the list does not return them), legal level and kinship of a
guardian, a teacher's subject in a group. Errors are ``{"error": "<i18n key>"}``; 509
``{"error": "quota_overflow"}`` (the token endpoint's sessions limit) is a back-off; a redirect to
``/auth/login`` is an authentication failure.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

from ent_migrate.connectors.rest.profiles.base import Profile
from ent_migrate.contract import Capability, Operation, Role
from ent_migrate.errors import TerminalError
from ent_migrate.model import (
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    Structure,
)
from ent_migrate.model import (
    Profile as PersonProfile,
)

__all__ = ["PROFILE_MAP", "EdificeProfile", "person_from_rows"]

#: entcore profile names ↔ the model's
PROFILE_MAP = {
    "Student": PersonProfile.STUDENT,
    "Relative": PersonProfile.GUARDIAN,
    "Teacher": PersonProfile.TEACHER,
    "Personnel": PersonProfile.STAFF,
}
_SUPPORTED = frozenset({Capability.ACCOUNTS, Capability.RELATIONS})
_READS = _SUPPORTED | {Capability.GROUPS}


def person_from_rows(rows: list[dict[str, Any]]) -> Person:
    """One person from its rows of ``/directory/user/list/by/structure`` (one row per structure)."""
    first = rows[0]
    profile = first.get("profiles")
    profile = profile[0] if isinstance(profile, list) else profile
    return Person(
        id=str(first["externalId"]),
        profile=PROFILE_MAP[str(profile)],
        last_name=first.get("lastName") or "",
        first_name=first.get("firstName") or "",
        login=first.get("login"),
        emails=(first["email"],) if first.get("email") else (),
        structures=tuple(sorted({r["UAI"] for r in rows if r.get("UAI")})),
    )


class EdificeProfile(Profile):
    name: ClassVar[str] = "edifice"
    summary: ClassVar[str] = "Edifice / entcore directory (ONE, NEO, Open ENT NG): read, update, link"
    supports: ClassVar[dict[Role, frozenset[Capability]]] = {Role.SOURCE: _READS, Role.TARGET: _SUPPORTED}
    default_auth: ClassVar[str] = "oauth2-client"
    login_paths: ClassVar[tuple[str, ...]] = ("/auth/login",)
    default_login_path: ClassVar[str] = "/auth/login"
    default_token_path: ClassVar[str] = "/auth/oauth2/token"  # noqa: S105 - a URL path, not a secret
    notes: ClassVar[str] = (
        "accounts come from entcore's feeder: updates and links only, never creates; whole-array lists; "
        "no functions, INE, birth dates, legal levels"
    )

    def __init__(self, client: Any, options: Any, problems: Any) -> None:
        super().__init__(client, options, problems)
        self._lock = threading.Lock()
        self._structures: list[dict[str, Any]] | None = None
        self._rows: dict[str, list[dict[str, Any]]] | None = None  # entcore id -> rows
        self._by_external: dict[str, str] = {}
        self._classes: dict[tuple[str, str], str] = {}  # (uai, name) -> class id
        self._groups: dict[tuple[str, str], str] = {}

    # -- error decoding --------------------------------------------------------------------------
    def body_error(self, status: int, payload: Any) -> str | None:
        # entcore renders {"error": key} with 200 from some handlers: an error all the same.
        if isinstance(payload, dict) and set(payload) == {"error"}:
            return str(payload["error"])
        return None

    def error_message(self, status: int, payload: Any) -> str:
        return str(payload.get("error")) if isinstance(payload, dict) and payload.get("error") else "error"

    def is_quota(self, status: int, payload: Any) -> bool:
        return status == 509 or (isinstance(payload, dict) and payload.get("error") == "quota_overflow")

    # -- lifecycle -------------------------------------------------------------------------------
    def check(self) -> str:
        return f"entcore directory: {len(self._structure_list())} structures visible"

    # -- directory lookups ----------------------------------------------------------------------
    def _structure_list(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._structures is None:
                listed = self.client.request("GET", "/directory/structure/admin/list").payload or []
                wanted = set(self.options.structures)
                self._structures = [s for s in listed if not wanted or s.get("UAI") in wanted]
            return self._structures

    def _user_rows(self) -> dict[str, list[dict[str, Any]]]:
        uais = [s["UAI"] for s in self._structure_list() if s.get("UAI")]
        with self._lock:
            if self._rows is None:
                rows: dict[str, list[dict[str, Any]]] = {}
                if uais:
                    listed = (
                        self.client.request(
                            "GET", "/directory/user/list/by/structure", params=[("uai", u) for u in uais]
                        ).payload
                        or []
                    )
                    for row in listed:
                        rows.setdefault(str(row["id"]), []).append(row)
                self._rows = rows
                self._by_external = {str(r[0]["externalId"]): uid for uid, r in rows.items() if r[0].get("externalId")}
            return self._rows

    def _external_id(self, entcore_id: str) -> str | None:
        rows = self._user_rows().get(entcore_id)
        if rows:
            return str(rows[0]["externalId"])
        found = self.client.request("GET", f"/directory/user/{entcore_id}").payload or {}
        return str(found["externalId"]) if found.get("externalId") else None

    def _entcore_id(self, external_id: str) -> str:
        self._user_rows()
        uid = self._by_external.get(external_id)
        if uid is None:
            raise TerminalError(
                "no entcore account has this externalId: entcore creates accounts from its feeder "
                "(AAF/CSV import), this profile only updates and links them"
            )
        return uid

    def _links(self) -> None:
        """Index the classes and manual groups of the structures read, by (UAI, name)."""
        if self._classes or self._groups:
            return
        for s in self._structure_list():
            params = {"structureId": s["id"]}
            for c in self.client.request("GET", "/directory/class/admin/list", params=params).payload or []:
                self._classes[(s["UAI"], c["name"])] = c["id"]
            for g in self.client.request("GET", "/directory/group/admin/list", params=params).payload or []:
                self._groups[(s["UAI"], g["name"])] = g["id"]

    # -- readers ---------------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        for s in self._structure_list():
            yield Structure(uai=s["UAI"], name=s.get("name") or "")
        for uid, rows in self._user_rows().items():
            try:
                yield person_from_rows(rows)
            except (KeyError, ValueError, TypeError):
                self.problems.add("record.invalid", f"entcore user {uid}", "unknown profile or no externalId")

    def read_groups(self) -> Iterator[Group]:
        self._links()
        for kind, index in ((GroupKind.CLASS, self._classes), (GroupKind.GROUP, self._groups)):
            for uai, name in sorted(index):
                yield Group(uai=uai, code=name, group_kind=kind, name=name)

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        self._links()
        for kind, index, route in (
            (GroupKind.CLASS, self._classes, "/directory/class/{}/users"),
            (GroupKind.GROUP, self._groups, "/directory/user/group/{}"),
        ):
            for (uai, name), gid in sorted(index.items()):
                for member in self.client.request("GET", route.format(gid)).payload or []:
                    person = self._external_id(str(member["id"]))
                    if person is None:
                        self.problems.add("ref.dangling", f"entcore {kind} {gid}", "a member without externalId")
                        continue
                    yield Membership(person_id=person, uai=uai, group_code=name)
        for uid, rows in self._user_rows().items():
            if rows[0].get("profiles") not in ("Relative", ["Relative"]):
                continue
            guardian = str(rows[0]["externalId"])
            for block in self.client.request("GET", f"/directory/user/{uid}/children").payload or []:
                for child in block.get("children") or []:
                    if child.get("externalId"):
                        yield Guardianship(guardian_id=guardian, student_id=str(child["externalId"]))

    # -- writers ---------------------------------------------------------------------------------
    def write(self, op: Operation) -> None:
        record = op.record
        if isinstance(record, Structure):
            if not any(s.get("UAI") == record.uai for s in self._structure_list()):
                raise TerminalError("entcore has no structure with this UAI (its feeder creates structures)")
        elif isinstance(record, Person):
            uid = self._entcore_id(record.id)
            body = {
                "firstName": record.first_name,
                "lastName": record.last_name,
                "email": record.emails[0] if record.emails else None,
            }
            self.client.request("PUT", f"/directory/user/{uid}", json_body=body)
        elif isinstance(record, Membership):
            self._links()
            uid = self._entcore_id(record.person_id)
            if (record.uai, record.group_code) in self._classes:
                cid = self._classes[(record.uai, record.group_code)]
                self.client.request("PUT", f"/directory/class/{cid}/link", json_body={"ids": [uid]})
            elif (record.uai, record.group_code) in self._groups:
                gid = self._groups[(record.uai, record.group_code)]
                self.client.request("PUT", f"/directory/group/{gid}/users/add", json_body={"userIds": [uid]})
            else:
                raise TerminalError("entcore has no class or group with this code in this structure")
        elif isinstance(record, Guardianship):
            student, relative = self._entcore_id(record.student_id), self._entcore_id(record.guardian_id)
            self.client.request("PUT", f"/directory/user/{student}/related/{relative}")
        elif isinstance(record, Function | Group):
            raise TerminalError(f"the edifice profile does not write {record.kind}s (entcore's feeder does)")
        else:  # pragma: no cover - the connector only routes accounts and relations here
            raise TerminalError(f"the edifice profile does not carry {op.kind}")
