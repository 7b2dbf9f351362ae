"""An entcore (Edifice: ONE, NEO, Open ENT NG) test server: the directory and auth routes the Edifice
profile uses, with entcore's behaviours, over HTTPS on 127.0.0.1 (Starlette + uvicorn in a thread).

No entcore can run here (a JVM, Vert.x, Neo4j), so this reproduces exactly the routes below, with the
answers entcore's source gives them (docs/rest-connector.md cites each one):

* ``POST /auth/login`` (form ``email``, ``password``): 302 + cookies ``oneSessionId``, ``authenticated``,
  ``XSRF-TOKEN``; a wrong password re-renders the login page (200 HTML, no session).
* ``POST /auth/oauth2/token``: client credentials or password grant, client authenticated with HTTP
  Basic; 509 ``{"error": "quota_overflow"}`` when the sessions limit is reached.
* without a session or token every ``/directory`` route answers 302 to ``/auth/login``; with a session,
  a write without ``X-XSRF-TOKEN`` equal to the ``XSRF-TOKEN`` cookie is refused (403). Never a 429.
* ``GET /directory/structure/admin/list``, ``GET /directory/class/admin/list?structureId=``,
  ``GET /directory/group/admin/list?structureId=``: whole arrays.
* ``GET /directory/user/list/by/structure?uai=...``: one row per user and structure (whole array, no
  paging); without ``uai``: 400 ``{"error": "missing.uai"}``.
* ``GET|PUT /directory/user/:id`` (PUT checks the ``updateUser`` JSON schema: unknown fields → 400),
  ``POST /directory/api/user`` (multipart form; entcore gives the new user a generated externalId).
* ``PUT /directory/class/:id/link`` ``{"ids": [...]}``, ``GET /directory/class/:id/users``,
  ``PUT /directory/group/:id/users/add`` ``{"userIds": [...]}``, ``GET /directory/user/group/:id``,
  ``PUT /directory/user/:studentId/related/:relativeId``, ``GET /directory/user/:id/children``.
* errors are JSON ``{"error": "<i18n key>"}``.

Each test takes its own tenant (``/<tenant>/...``). Tests reach the state directly
(:meth:`EntcoreServer.tenant`): seed it as entcore's feeder would, read it, and set faults
(``status`` answers, ``body-error`` 200 answers carrying ``{"error"}``, ``truncate`` cut answers).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

__all__ = ["EntcoreServer", "Tenant", "entcore_server", "running_entcore_server"]

CLIENT = ("ent-migrate", "client-secret")  # throw-away credentials of a loopback test server
ACCOUNT = ("admin.ent", "admin-password")
PROFILES = ("Student", "Relative", "Teacher", "Personnel", "Guest")
#: the properties of directory/src/main/resources/jsonschema/updateUser.json (additionalProperties: false)
UPDATE_USER_FIELDS = frozenset(
    {
        "firstName",
        "lastName",
        "displayName",
        "birthDate",
        "address",
        "zipCode",
        "city",
        "loginAlias",
        "email",
        "homePhone",
        "mobile",
        "totp",
        "positionIds",
        "country",
        "otherNames",
        "title",
        "surname",
        "workPhone",
    }
)


@dataclasses.dataclass
class Tenant:
    """One entcore's directory, in memory."""

    structures: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    classes: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    users: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    related: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # (student id, relative id)
    sessions: dict[str, str] = dataclasses.field(default_factory=dict)  # oneSessionId -> XSRF token
    tokens: dict[str, float] = dataclasses.field(default_factory=dict)  # access token -> expiry (monotonic)
    token_ttl: int = 3600
    quota_overflow: int = 0  # the next N token requests answer 509
    faults: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    token_requests: int = 0
    logins: int = 0
    requests: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (method, path) seen
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    # -- seeding, as entcore's feeder would -----------------------------------------------------
    def add_structure(self, uai: str, name: str = "") -> str:
        sid = uuid.uuid4().hex
        self.structures[sid] = {"id": sid, "UAI": uai, "name": name or uai, "externalId": f"J{uai}"}
        return sid

    def structure_id(self, uai: str) -> str:
        sid: str = next(s["id"] for s in self.structures.values() if s["UAI"] == uai)
        return sid

    def add_class(self, uai: str, name: str) -> str:
        cid = uuid.uuid4().hex
        sid = self.structure_id(uai)
        self.classes[cid] = {
            "id": cid,
            "name": name,
            "structureId": sid,
            "externalId": f"{self.structures[sid]['externalId']}${name}",
            "users": set(),
        }
        return cid

    def add_group(self, uai: str, name: str) -> str:
        gid = uuid.uuid4().hex
        self.groups[gid] = {"id": gid, "name": name, "structureId": self.structure_id(uai), "users": set()}
        return gid

    def add_user(
        self,
        external_id: str,
        profile: str,
        first: str,
        last: str,
        uais: tuple[str, ...],
        login: str | None = None,
        email: str | None = None,
        birth_date: str | None = None,
    ) -> str:
        uid = uuid.uuid4().hex
        self.users[uid] = {
            "id": uid,
            "externalId": external_id,
            "firstName": first,
            "lastName": last,
            "displayName": f"{first} {last}".strip(),
            "login": login or f"user.{uid[:8]}",
            "email": email,
            "birthDate": birth_date,
            "profiles": [profile],
            "structures": [self.structure_id(u) for u in uais],
        }
        return uid

    def by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        return [u for u in self.users.values() if u["externalId"] == external_id]


def _app(server: EntcoreServer) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    def error(key: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": key}, status_code=status)

    def guard(request: Request, t: Tenant) -> Response | None:
        """entcore's security filters: a session or a token, and the XSRF token on writes."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            expiry = t.tokens.get(header[7:])
            return None if expiry is not None and expiry > time.monotonic() else error("invalid_token", 401)
        session = request.cookies.get("oneSessionId")
        if session not in t.sessions:
            tenant = request.path_params["tenant"]
            return RedirectResponse(f"/{tenant}/auth/login?callBack={quote(str(request.url.path))}", status_code=302)
        if request.method in ("POST", "PUT", "DELETE") and (
            request.headers.get("X-XSRF-TOKEN") != t.sessions[session]
            or request.cookies.get("XSRF-TOKEN") != t.sessions[session]
        ):
            return error("xsrf.token.invalid", 403)
        return None

    def endpoint(func: Any, *, public: bool = False) -> Any:
        async def handler(request: Request) -> Response | _Truncated:
            t = server.tenant(request.path_params["tenant"])
            t.requests.append((request.method, request.url.path))
            fault = _fault(t, request.method, request.url.path)
            if fault is not None and fault["mode"] == "status":
                return JSONResponse(fault.get("body", {}), status_code=fault["status"], headers=fault.get("headers"))
            if not public:
                refused = guard(request, t)
                if refused is not None:
                    return refused
            response: Response = await func(request, t)
            if fault is not None and fault["mode"] == "body-error":
                return JSONResponse({"error": fault.get("key", "unexpected.error")}, status_code=200)
            if fault is not None and fault["mode"] == "truncate":
                return _Truncated(response)
            return response

        return handler

    async def login(request: Request, t: Tenant) -> Response:
        form = await request.form()
        if (form.get("email"), form.get("password")) != ACCOUNT:
            return HTMLResponse("<html><form action='/auth/login'>login.error</form></html>")
        t.logins += 1
        session, xsrf = secrets.token_hex(16), secrets.token_hex(16)
        t.sessions[session] = xsrf
        response = RedirectResponse(str(form.get("callBack") or "/"), status_code=302)
        for name, value in (("oneSessionId", session), ("authenticated", "true"), ("XSRF-TOKEN", xsrf)):
            response.set_cookie(name, value, path="/", secure=True)
        return response

    async def token(request: Request, t: Tenant) -> Response:
        t.token_requests += 1
        form = await request.form()
        if t.quota_overflow > 0:
            t.quota_overflow -= 1
            return error("quota_overflow", 509)
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        client = base64.b64decode(encoded).decode().split(":", 1) if scheme == "Basic" else []
        if tuple(client) != CLIENT:
            return error("invalid_client", 401)
        grant = form.get("grant_type")
        if grant == "password" and (form.get("username"), form.get("password")) != ACCOUNT:
            return error("invalid_grant")
        if grant not in ("client_credentials", "password"):
            return error("unsupported_grant_type")
        value = secrets.token_hex(16)
        t.tokens[value] = time.monotonic() + t.token_ttl
        return JSONResponse(
            {"token_type": "Bearer", "access_token": value, "expires_in": t.token_ttl, "scope": form.get("scope") or ""}
        )

    async def structures(request: Request, t: Tenant) -> Response:
        return JSONResponse([{k: s[k] for k in ("id", "UAI", "name", "externalId")} for s in t.structures.values()])

    async def classes(request: Request, t: Tenant) -> Response:
        sid = request.query_params.get("structureId")
        return JSONResponse(
            [
                {"id": c["id"], "name": c["name"], "externalId": c["externalId"]}
                for c in t.classes.values()
                if sid is None or c["structureId"] == sid
            ]
        )

    async def groups(request: Request, t: Tenant) -> Response:
        sid = request.query_params.get("structureId")
        return JSONResponse(
            [
                {"id": g["id"], "name": g["name"], "type": "ManualGroup"}
                for g in t.groups.values()
                if sid is None or g["structureId"] == sid
            ]
        )

    async def by_structure(request: Request, t: Tenant) -> Response:
        uais = request.query_params.getlist("uai")
        if not uais:
            return error("missing.uai")
        rows = []
        for s in (s for s in t.structures.values() if s["UAI"] in uais):
            for u in (u for u in t.users.values() if s["id"] in u["structures"]):
                member_of = [
                    {"groupName": g["name"], "groupId": g["id"]}
                    for g in [*t.classes.values(), *t.groups.values()]
                    if u["id"] in g["users"]
                ]
                rows.append(
                    {
                        "externalId": u["externalId"],
                        "lastName": u["lastName"],
                        "firstName": u["firstName"],
                        "login": u["login"],
                        "email": u["email"],
                        "emailAcademy": None,
                        "mobile": None,
                        "deleteDate": None,
                        "functions": None,
                        "displayName": u["displayName"],
                        "id": u["id"],
                        "blocked": None,
                        "emailInternal": None,
                        "profiles": u["profiles"][0],
                        "UAI": s["UAI"],
                        "isActive": True,
                        "structures": s["externalId"],
                        "groups": member_of,
                        "createdDate": None,
                        "duplicated": None,
                        "isMergedWithINE": False,
                        "automaticMergedIds": None,
                        "isMergedManuel": False,
                    }
                )
        return JSONResponse(rows)

    async def user(request: Request, t: Tenant) -> Response:
        found = t.users.get(request.path_params["id"])
        if found is None:
            return error("user.not.found", 404)
        if request.method == "GET":
            return JSONResponse({**found, "type": found["profiles"]})
        body = await request.json()
        unknown = sorted(set(body) - UPDATE_USER_FIELDS) if isinstance(body, dict) else ["(not an object)"]
        if unknown:
            return error(f"invalid.field.{unknown[0]}")
        with t.lock:
            found.update({k: v for k, v in body.items() if k in ("firstName", "lastName", "email", "birthDate")})
        return JSONResponse({})

    async def create_user(request: Request, t: Tenant) -> Response:
        form = await request.form()
        sid = form.get("structureId")
        if not sid or sid not in t.structures:
            return error("invalid.structure")
        uid = uuid.uuid4().hex
        t.users[uid] = {
            "id": uid,
            "externalId": str(uuid.uuid4()),
            "firstName": form.get("firstname"),
            "lastName": form.get("lastname"),
            "displayName": "",
            "login": f"user.{uid[:8]}",
            "email": None,
            "birthDate": form.get("birthDate"),
            "profiles": [form.get("type")],
            "structures": [sid],
        }
        return JSONResponse({"id": uid})

    async def class_link(request: Request, t: Tenant) -> Response:
        found = t.classes.get(request.path_params["id"])
        ids = (await request.json()).get("ids") or []
        linked = [i for i in ids if i in t.users]
        if found is None or not linked:
            return error("not.found", 404)
        with t.lock:
            found["users"].update(linked)
        return JSONResponse([{"id": i} for i in linked])

    async def class_users(request: Request, t: Tenant) -> Response:
        found = t.classes.get(request.path_params["id"])
        if found is None:
            return error("not.found", 404)
        return JSONResponse([_listed(t.users[i]) for i in sorted(found["users"])])

    async def group_add(request: Request, t: Tenant) -> Response:
        found = t.groups.get(request.path_params["id"])
        if found is None:
            return error("group.not.found")
        ids = (await request.json()).get("userIds") or []
        with t.lock:
            found["users"].update(i for i in ids if i in t.users)
        return JSONResponse({})

    async def group_users(request: Request, t: Tenant) -> Response:
        found = t.groups.get(request.path_params["id"]) or t.classes.get(request.path_params["id"])
        return JSONResponse([_listed(t.users[i]) for i in sorted(found["users"])] if found else [])

    async def related(request: Request, t: Tenant) -> Response:
        student, relative = request.path_params["student"], request.path_params["relative"]
        if student not in t.users or relative not in t.users:
            return error("user.not.found", 404)
        with t.lock:
            t.related.add((student, relative))
        return JSONResponse({})

    async def children(request: Request, t: Tenant) -> Response:
        by_structure: dict[str, list[dict[str, Any]]] = {}
        for student, relative in sorted(t.related):
            if relative != request.path_params["id"]:
                continue
            child = t.users[student]
            names = [c["name"] for c in t.classes.values() if student in c["users"]]
            for sid in child["structures"]:
                by_structure.setdefault(t.structures[sid]["name"], []).append(
                    {
                        "id": child["id"],
                        "displayName": child["displayName"],
                        "externalId": child["externalId"],
                        "classesNames": names,
                    }
                )
        return JSONResponse([{"structureName": k, "children": v} for k, v in by_structure.items()])

    p = "/{tenant}"
    routes = [
        Route(f"{p}/auth/login", endpoint(login, public=True), methods=["POST"]),
        Route(f"{p}/auth/oauth2/token", endpoint(token, public=True), methods=["POST"]),
        Route(f"{p}/directory/structure/admin/list", endpoint(structures)),
        Route(f"{p}/directory/class/admin/list", endpoint(classes)),
        Route(f"{p}/directory/group/admin/list", endpoint(groups)),
        Route(f"{p}/directory/user/list/by/structure", endpoint(by_structure)),
        Route(f"{p}/directory/api/user", endpoint(create_user), methods=["POST"]),
        Route(f"{p}/directory/user/group/{{id}}", endpoint(group_users)),
        Route(f"{p}/directory/user/{{student}}/related/{{relative}}", endpoint(related), methods=["PUT"]),
        Route(f"{p}/directory/user/{{id}}/children", endpoint(children)),
        Route(f"{p}/directory/user/{{id}}", endpoint(user), methods=["GET", "PUT"]),
        Route(f"{p}/directory/class/{{id}}/link", endpoint(class_link), methods=["PUT"]),
        Route(f"{p}/directory/class/{{id}}/users", endpoint(class_users)),
        Route(f"{p}/directory/group/{{id}}/users/add", endpoint(group_add), methods=["PUT"]),
    ]
    return Starlette(routes=routes)


def _listed(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": u["id"],
        "login": u["login"],
        "username": u["displayName"],
        "firstName": u["firstName"],
        "lastName": u["lastName"],
        "type": u["profiles"][0],
        "profile": u["profiles"][0],
    }


def _fault(t: Tenant, method: str, path: str) -> dict[str, Any] | None:
    with t.lock:
        for rule in t.faults:
            if rule["method"] == method and path.endswith(rule["path"]) and rule.get("count", 1) > rule.get("hits", 0):
                rule["hits"] = rule.get("hits", 0) + 1
                return rule
    return None


class _Truncated:
    """An ASGI response that declares its full length, sends half of it, and drops the connection."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body: bytes = self.inner.body
        headers = [(k, v) for k, v in self.inner.raw_headers if k.lower() != b"content-length"]
        await send(
            {
                "type": "http.response.start",
                "status": self.inner.status_code,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        raise ConnectionAbortedError("test fault: answer cut in half")


@dataclasses.dataclass
class EntcoreServer:
    port: int
    ca_file: str
    cert_file: str = ""
    tenants: dict[str, Tenant] = dataclasses.field(default_factory=dict)
    client: tuple[str, str] = CLIENT
    account: tuple[str, str] = ACCOUNT

    def tenant(self, name: str) -> Tenant:
        return self.tenants.setdefault(name, Tenant())

    def url(self, tenant: str) -> str:
        return f"https://127.0.0.1:{self.port}/{tenant}"


@contextlib.contextmanager
def running_entcore_server(folder: Path) -> Iterator[EntcoreServer]:
    import uvicorn

    from tests.servers.scim import free_port, throwaway_ca

    ca_file, cert, key = throwaway_ca(folder)
    server = EntcoreServer(port=free_port(), ca_file=ca_file, cert_file=cert)
    config = uvicorn.Config(
        _app(server),
        host="127.0.0.1",
        port=server.port,
        ssl_certfile=cert,
        ssl_keyfile=key,
        log_level="critical",
        access_log=False,
        lifespan="off",
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="entcore-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the entcore test server did not start", pytrace=False)
        time.sleep(0.02)
    try:
        yield server
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def entcore_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntcoreServer]:
    """The entcore test server on 127.0.0.1 over verified TLS for the whole session."""
    with running_entcore_server(tmp_path_factory.mktemp("entcore")) as server:
        yield server
