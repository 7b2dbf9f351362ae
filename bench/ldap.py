"""Issue 16: the ``ldap`` connector against OpenLDAP's own tools, on one private slapd, in one run.

20,000 SDET person entries (one pupil each: identity, profiles, structure DN, INE, mail) are added with
``ldapadd`` (one connection, the LDIF our target would write) and by our target (``Connector.write`` from
``concurrency`` threads, as apply sends them), then read back with ``ldapsearch -E pr=1000/noprompt`` and by
our source (``read_accounts``). For the record, ldap3 (pure Python) on the same paths: the reason the
connector uses python-ldap. Wall time and peak RSS of each side in its own process; all over LDAPS.

``python -m bench ldap [ENTRIES]`` (default 20000).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._measure import measure
from ent_migrate.contract import Action, Operation
from ent_migrate.model import Person, Profile
from ent_migrate.registry import load_registry, open_connector

__all__ = ["ldap3_add", "ldap3_read", "our_read", "our_write", "raw_read", "run"]

UAI = "0350012Y"
_PASSWORD_ENV = "ENT_MIGRATE_BENCH_LDAP_PASSWORD"  # noqa: S105 - the name of a variable, not a secret


load_registry()  # imports and entry points are loaded before any timer starts


def _people(n: int) -> Iterator[Person]:
    for i in range(n):
        yield Person(
            id=f"AC-RENNES${i}",
            profile=Profile.STUDENT,
            last_name="N'Diaye",
            first_name=f"Élève{i}",
            birth_date=dt.date(2012, 1 + i % 12, 1 + i % 28),
            ine=f"{i:010d}A",
            emails=(f"eleve{i}@example.org",),
            structures=(UAI,),
            login=f"eleve.{i}",
        )


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {**options, "bind_password": os.environ[_PASSWORD_ENV]}


def our_write(url: str, options: dict[str, Any], n: int, concurrency: int) -> int:
    ops = [Operation(f"op-{p.id}", Action.CREATE, p.kind, p.key, p) for p in _people(n)]
    with (
        open_connector(f"ldap:{url}", _options({**options, "concurrency": concurrency})) as target,
        ThreadPoolExecutor(max_workers=concurrency) as pool,
    ):
        for _ in pool.map(lambda op: target.write(op, None), ops, chunksize=64):
            pass
    return n


def our_read(url: str, options: dict[str, Any]) -> int:
    with open_connector(f"ldap:{url}", _options(options)) as source:
        return sum(1 for _ in source.read_accounts())


def raw_read(url: str, options: dict[str, Any]) -> int:
    """The library alone: python-ldap paged search through the connector's pool, no records built."""
    import ldap

    from ent_migrate.connectors.ldap import LdapConnector

    connector = LdapConnector(url, _options(options))
    try:
        base = connector.codec.base("people")
        attrs = connector.codec.person_attributes()
        return sum(
            1 for _ in connector.pool.search(base, ldap.SCOPE_SUBTREE, "(objectClass=ENTPerson)", attrs, 1000, "bench")
        )
    finally:
        connector.close()


def _ldap3(url: str, options: dict[str, Any]) -> Any:
    from urllib.parse import urlsplit

    import ldap3

    parts = urlsplit(url)
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=options["ca_file"])
    server = ldap3.Server(parts.hostname, port=parts.port, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, options["bind_dn"], os.environ[_PASSWORD_ENV], auto_bind=True)


def ldap3_add(url: str, options: dict[str, Any], ldif_json: str, concurrency: int) -> int:
    entries = json.loads(Path(ldif_json).read_text())

    def add(chunk: list[list[Any]]) -> None:
        conn = _ldap3(url, options)
        for dn, attrs in chunk:
            attrs = dict(attrs)
            classes = attrs.pop("objectClass")
            if not conn.add(dn, classes, attrs):
                raise RuntimeError(conn.result["description"])
        conn.unbind()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(add, [entries[i::concurrency] for i in range(concurrency)]))
    return len(entries)


def ldap3_read(url: str, options: dict[str, Any], base: str) -> int:
    conn = _ldap3(url, options)
    n = sum(
        1
        for _ in conn.extend.standard.paged_search(
            base, "(objectClass=ENTPerson)", attributes=["*"], paged_size=1000, generator=True
        )
    )
    conn.unbind()
    return n


def _tool(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, VmHWM polled while it runs: the rusage of a child forked from
    this big process would count the parent's pages) of one OpenLDAP tool run, its output thrown away."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, peak


def _ldif(codec: Any, base_entries: list[tuple[str, dict[str, list[str]]]], path: Path, dump: Path) -> None:
    """The entries our target writes, as LDIF for ldapadd and as JSON for ldap3."""
    import base64

    lines = []
    for dn, attrs in base_entries:
        lines.append(f"dn: {dn}")
        for name, values in attrs.items():
            for value in values:
                if value.isascii() and not value.startswith((" ", ":", "<")):
                    lines.append(f"{name}: {value}")
                else:
                    lines.append(f"{name}:: {base64.b64encode(value.encode()).decode()}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dump.write_text(json.dumps(base_entries), encoding="utf-8")


def _files(entries: int, base: str, folder: Path) -> tuple[Path, Path]:
    """The LDIF (ldapadd) and JSON (ldap3) of the entries our target writes under *base*."""
    from ent_migrate.connectors.ldap.mapping import Codec, load_mapping
    from ent_migrate.problems import Problems

    codec = Codec(load_mapping(), base, Problems())
    rows = []
    for person in _people(entries):
        values = codec.person_values(person, lambda uai: codec.structure_dn(uai))
        attrs = {"objectClass": codec.person_classes(person), **{k: v for k, v in values.items() if v}}
        rows.append((codec.person_dn(person.id), attrs))
    name = base.split(",")[0].split("=")[1]
    out = (folder / f"{name}.ldif", folder / f"{name}.json")
    _ldif(codec, rows, *out)
    return out


def run(entries: int = 20_000, concurrency: int = 4, rounds: int = 3) -> list[dict[str, object]]:
    """Each side *rounds* times, interleaved, on fresh subtrees; the best round of each is kept (the
    machine is shared: the best is the least disturbed). ldap3 runs once: it is here for the record."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.servers.slapd import running_slapd

    results: list[dict[str, object]] = []
    best: dict[str, dict[str, float]] = {}

    def keep(name: str, seconds: float, rss: float) -> None:
        if name not in best or seconds < best[name]["seconds"]:
            best[name] = {"seconds": seconds, "rss": rss}

    with running_slapd() as server, tempfile.TemporaryDirectory(prefix="ldap-bench-") as tmp:
        os.environ[_PASSWORD_ENV] = server.password
        options = {"bind_dn": server.admin_dn, "ca_file": str(server.ca_file)}
        env = server.tool_env()
        secret = Path(tmp) / "pw"
        secret.write_text(server.password)
        secret.chmod(0o600)
        uri = f"ldaps://127.0.0.1:{server.ldaps_port}"
        bind = ["-x", "-H", uri, "-D", server.admin_dn, "-y", str(secret)]
        for number in range(rounds):
            bases = {name: server.fresh_base(f"{name}-{number}") for name in ("tools", "ours", "ldap3")}
            for base in bases.values():  # the container our target would create, for the others too
                conn = server.admin()
                conn.add_s(f"ou=people,{base}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"people"])])
                conn.unbind_s()
            ldif, _ = _files(entries, bases["tools"], Path(tmp))
            keep("ldapadd", *_tool(["ldapadd", *bind, "-f", str(ldif)], env))
            ours = measure("bench.ldap", "our_write", server.url(bases["ours"]), options, entries, concurrency)
            keep("our_write", ours["seconds"], ours["peak_rss"])
            people = f"ou=people,{bases['tools']}"
            search = ["ldapsearch", *bind, "-LLL", "-b", people, "-E", "pr=1000/noprompt", "(objectClass=ENTPerson)"]
            keep("ldapsearch", *_tool(search, env))
            for name in ("our_read", "raw_read"):
                done = measure("bench.ldap", name, server.url(bases["ours"]), options)
                assert done["count"] == entries, done
                keep(name, done["seconds"], done["peak_rss"])
            if number == 0:
                _, dump = _files(entries, bases["ldap3"], Path(tmp))
                done = measure("bench.ldap", "ldap3_add", server.url(bases["ldap3"]), options, str(dump), concurrency)
                keep("ldap3_add", done["seconds"], done["peak_rss"])
                done = measure("bench.ldap", "ldap3_read", server.url(bases["tools"]), options, people)
                keep("ldap3_read", done["seconds"], done["peak_rss"])
    load = os.getloadavg()[0]
    for path, tool, mine, l3 in (
        ("write", "ldapadd", "our_write", "ldap3_add"),
        ("read", "ldapsearch", "our_read", "ldap3_read"),
    ):
        row: dict[str, object] = {
            "bench": f"ldap-{path}",
            "entries": entries,
            "rounds": rounds,
            "concurrency": concurrency if path == "write" else 1,
            "tool": "ldapadd" if path == "write" else "ldapsearch -E pr=1000/noprompt",
            "tool_entries_per_s": round(entries / best[tool]["seconds"]),
            "ours_entries_per_s": round(entries / best[mine]["seconds"]),
            "ratio": round(best[tool]["seconds"] / best[mine]["seconds"], 3),
            "ldap3_entries_per_s": round(entries / best[l3]["seconds"]),
            "ldap3_ratio": round(best[tool]["seconds"] / best[l3]["seconds"], 3),
            "ours_peak_rss_mb": round(best[mine]["rss"] / 2**20, 1),
            "tool_peak_rss_mb": round(best[tool]["rss"] / 2**20, 1),
            "ldap3_peak_rss_mb": round(best[l3]["rss"] / 2**20, 1),
            "load_average": round(load, 1),
        }
        if path == "read":  # where the time goes: python-ldap itself vs building canonical records
            row["python_ldap_raw_entries_per_s"] = round(entries / best["raw_read"]["seconds"])
            row["python_ldap_raw_ratio"] = round(best["ldapsearch"]["seconds"] / best["raw_read"]["seconds"], 3)
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


if __name__ == "__main__":
    print(json.dumps(run(*(int(a) for a in sys.argv[1:])), indent=2))
