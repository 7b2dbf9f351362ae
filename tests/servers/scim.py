"""A real SCIM 2.0 server for the tests: scim2-server (PyPI), over HTTPS on 127.0.0.1, stopped by pid.

``scim_server`` (session) makes a throw-away CA with trustme, issues a certificate for 127.0.0.1, and
starts ``python -m tests.servers.scim`` in its own process: scim2-server's WSGI application (in-memory
storage, every tenant made on first use, so each test takes a fresh ``/<tenant>/v2`` base URL) with the
ENT schema extensions of the SCIM profile registered on User and Group, served by uvicorn with TLS. It
accepts a bearer token or an HTTP Basic machine client, and announces ``/Bulk``, PATCH, filters, ETags.

A fault hook sits in front of it, for faults a real server does not produce on demand: ``POST /_faults``
with a JSON list of rules ``{"method", "path", "mode", "count", ...}`` — ``status`` answers a given status
and headers without touching the store (429, 503); ``hold`` lets the request take effect and holds the
answer past the client's timeout (a create whose answer is lost); ``truncate`` lets it take effect and
cuts the body in half (the connection closes mid-answer). ``DELETE /_faults`` clears them; ``GET /_faults``
tells how many requests each rule caught.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = ["ScimServer", "free_port", "running_scim_server", "scim_server", "throwaway_ca"]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-bearer-token"  # a test credential of a throw-away server on loopback
BASIC = ("machine-client", "machine-secret")
_START_TIMEOUT = 30.0


# -- the server process ------------------------------------------------------------------------
def _application(tokens: Iterable[str], basic: tuple[str, str] | None) -> Any:
    from scim2_models import ResourceType, ScimProvider, UnauthorizedException
    from scim2_server.applications.wsgi import TenantDispatcher, WSGIApplication
    from scim2_server.memory import InMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.utils import (
        load_default_resource_types,
        load_default_schemas,
        load_default_service_provider_config,
    )

    from ent_migrate.connectors.rest.profiles.scim_schema import ENT_GROUP, ENT_USER, ent_schemas

    schemas = [*load_default_schemas().values(), *ent_schemas()]
    resource_types = []
    for rt in load_default_resource_types().values():
        data = rt.model_dump()
        extra = ENT_USER if rt.id == "User" else ENT_GROUP
        data["schemaExtensions"] = [*(data.get("schemaExtensions") or []), {"schema": extra, "required": False}]
        resource_types.append(ResourceType.model_validate(data))
    provider = ScimProvider.from_discovery(schemas, resource_types, config=load_default_service_provider_config())
    service = ScimService(provider)
    accepted = {f"Bearer {t}" for t in tokens}
    if basic:
        accepted.add("Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode())

    class Application(WSGIApplication):
        def check_auth(self, request: Any) -> None:
            if (request.header("Authorization") or "") not in accepted:
                raise UnauthorizedException

    def make(tenant: str) -> Application:
        return Application(InMemoryStorage(), provider, service=service)

    return _Faults(TenantDispatcher(make))


class _Faults:
    """WSGI middleware injecting the faults of the ``/_faults`` rules."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def _control(self, environ: dict[str, Any], start: Any) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        with self.lock:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                self.rules = [dict(r, hits=0) for r in json.loads(environ["wsgi.input"].read(length))]
            elif method == "DELETE":
                self.rules = []
            body = json.dumps(self.rules).encode()
        start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _match(self, environ: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            for rule in self.rules:
                if (
                    rule["method"] == environ["REQUEST_METHOD"]
                    and environ["PATH_INFO"].endswith(rule["path"])
                    and rule.get("count", 1) > rule["hits"]
                ):
                    rule["hits"] += 1
                    return rule
        return None

    def __call__(self, environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/_faults":
            return self._control(environ, start)
        rule = self._match(environ)
        if rule is None:
            return self.app(environ, start)  # type: ignore[no-any-return]
        if rule["mode"] == "status":
            body = rule.get("body", "").encode()
            start(
                f"{rule['status']} Fault",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    *rule.get("headers", {}).items(),
                ],
            )
            return [body]
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self.app(environ, keep))  # the request takes effect
        if rule["mode"] == "hold":
            time.sleep(float(rule.get("hold", 2.0)))
            start(captured["status"], captured["headers"])
            return [body]
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start(captured["status"], [*headers, ("Content-Length", str(len(body)))])

        def cut() -> Iterator[bytes]:
            yield body[: len(body) // 2]
            raise ConnectionAbortedError("fault hook: answer cut in half")

        return cut()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="tests.servers.scim")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    app = _application([os.environ.get("SCIM_TEST_TOKEN", TOKEN)], BASIC)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        interface="wsgi",
        ssl_certfile=args.cert,
        ssl_keyfile=args.key,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
    )


# -- the fixture -------------------------------------------------------------------------------
@dataclasses.dataclass
class ScimServer:
    port: int
    ca_file: str
    token: str
    pid: int
    cert_file: str = ""
    basic: tuple[str, str] = BASIC

    def url(self, tenant: str) -> str:
        return f"https://127.0.0.1:{self.port}/{tenant}/v2"

    def _http(self) -> httpx.Client:
        return httpx.Client(
            verify=ssl.create_default_context(cafile=self.ca_file),
            base_url=f"https://127.0.0.1:{self.port}",
            timeout=10,
        )

    def faults(self, rules: list[dict[str, Any]]) -> None:
        with self._http() as http:
            http.post("/_faults", json=rules).raise_for_status()

    def fault_hits(self) -> list[int]:
        with self._http() as http:
            return [int(r["hits"]) for r in http.get("/_faults").json()]

    def clear_faults(self) -> None:
        with self._http() as http:
            http.delete("/_faults").raise_for_status()

    def get(self, tenant: str, path: str, **params: Any) -> Any:
        with self._http() as http:
            response = http.get(f"/{tenant}/v2{path}", params=params, headers={"Authorization": f"Bearer {self.token}"})
            response.raise_for_status()
            return response.json()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def throwaway_ca(folder: Path) -> tuple[str, str, str]:
    """(ca.pem, cert.pem, key.pem) for 127.0.0.1, from a CA made for this session only."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return str(paths[0]), str(paths[1]), str(paths[2])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_scim_server(folder: Path) -> Iterator[ScimServer]:
    """Start the server in its own process (also used by bench/rest.py); stop it by pid."""
    ca_file, cert, key = throwaway_ca(folder)
    log = folder / "scim-server.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(5):
            port = free_port()
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.servers.scim", "--port", str(port), "--cert", cert, "--key", key],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "SCIM_TEST_TOKEN": TOKEN},
                )
            if _wait_ready(proc, port, ca_file):
                break
            _stop(proc)
        else:
            pytest.fail(f"the SCIM server did not start:\n{log.read_text(errors='replace')[-2000:]}", pytrace=False)
        assert proc is not None
        yield ScimServer(port=port, ca_file=ca_file, token=TOKEN, pid=proc.pid, cert_file=cert)
    finally:
        if proc is not None:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, ca_file: str) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            httpx.get(
                f"https://127.0.0.1:{port}/ready/v2/ServiceProviderConfig",
                verify=ssl.create_default_context(cafile=ca_file),
                timeout=2,
            )
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def scim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    """A SCIM server on 127.0.0.1 over verified TLS for the whole session."""
    with running_scim_server(tmp_path_factory.mktemp("scim")) as server:
        yield server


if __name__ == "__main__":
    main()
