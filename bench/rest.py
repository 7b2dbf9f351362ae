"""Issue 10: create N accounts through the ``rest`` SCIM target, next to a bare httpx loop of the same POSTs on
the same server (scim2-server, HTTPS, its own process) with the same concurrency, in the same run; then read
them back. ``python -m bench rest [N]``.

Each side runs twice (ABBA), each time on a fresh server and in a fresh child process
(``bench._measure``).
The bare loop sends exactly the bodies the connector would (``user_body``), with no look-up and no error
handling: it is the ceiling. The connector does what apply does: one ``write`` per operation from a pool of
``CONCURRENCY`` threads (its index of external ids is listed once, so a create is one POST).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench._measure import measure

__all__ = ["bare_posts", "bench_rest", "connector_creates", "connector_reads"]

CONCURRENCY = 4
UAI = "0801234P"


def _people(count: int) -> Iterator[Any]:
    from ent_migrate.model import Person, Profile

    for i in range(count):
        yield Person(
            id=f"bench-{i:07d}",
            profile=Profile.STUDENT,
            last_name=f"Nom{i % 977}",
            first_name=f"Élève{i}",
            birth_date=dt.date(2012, 1 + i % 12, 1 + i % 28),
            ine=f"{i:010d}A",
            structures=(UAI,),
            login=f"eleve.{i}",
        )


def bare_posts(url: str, ca_file: str, token: str, count: int) -> int:
    """The ceiling: the same POST /Users bodies from a bare httpx client, CONCURRENCY at a time."""
    from ent_migrate.connectors.rest.profiles.scim import user_body

    bodies = [json.dumps(user_body(p), ensure_ascii=False).encode() for p in _people(count)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=ca_file),
        limits=httpx.Limits(max_connections=CONCURRENCY),
        timeout=60,
    ) as http:

        def post(body: bytes) -> int:
            return http.post("/Users", content=body, headers=headers).status_code

        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            statuses = list(pool.map(post, bodies))
    assert all(s == 201 for s in statuses), sorted(set(statuses))
    return count


def _open(url: str, ca_file: str, token: str) -> Any:
    from ent_migrate.registry import open_connector

    return open_connector(
        f"rest:{url}",
        {
            "profile": "scim",
            "authentication": "bearer",
            "token": token,
            "ca_file": ca_file,
            "concurrency": CONCURRENCY,
            "page_size": 1000,
        },
    )


def connector_creates(url: str, ca_file: str, token: str, count: int, stats: str) -> int:
    from ent_migrate.contract import Action, Operation

    ops = [Operation(str(uuid.uuid4()), Action.CREATE, p.kind, p.key, p) for p in _people(count)]
    with _open(url, ca_file, token) as target, concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(target.write, ops))
        Path(stats).write_text(json.dumps({"requests": target.client.requests}))
    return count


def connector_reads(url: str, ca_file: str, token: str, count: int, stats: str) -> int:
    with _open(url, ca_file, token) as source:
        read = sum(1 for _ in source.read_accounts())
        Path(stats).write_text(json.dumps({"requests": source.client.requests}))
    assert read == count, (read, count)
    return read


def bench_rest(sizes: list[int]) -> list[dict[str, object]]:
    from tests.servers.scim import running_scim_server

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scim-") as folder:
        root = Path(folder)
        for count in sizes:
            stats = str(root / "stats.json")
            # Each measurement on a fresh server (its memory never holds the other side's accounts), in ABBA
            # order, and the best of each side counts: the machine is shared with other work.
            best: dict[str, dict[str, Any]] = {}
            for round_, side in enumerate(("bare", "ours", "ours", "bare")):
                where = root / f"{side}-{round_}"
                where.mkdir()
                with running_scim_server(where) as server:
                    url = server.url(f"{side}{count}")
                    if side == "bare":
                        m = measure("bench.rest", "bare_posts", url, server.ca_file, server.token, count)
                    else:
                        m = measure("bench.rest", "connector_creates", url, server.ca_file, server.token, count, stats)
                        m["requests"] = json.loads(Path(stats).read_text())["requests"]
                        back = measure("bench.rest", "connector_reads", url, server.ca_file, server.token, count, stats)
                        m["read"] = back | {"requests": json.loads(Path(stats).read_text())["requests"]}
                if side not in best or m["per_second"] > best[side]["per_second"]:
                    best[side] = m
            bare, ours = best["bare"], best["ours"]
            ours_requests, back = ours["requests"], ours["read"]
            read_requests = back["requests"]
            row = {
                "bench": "rest-scim-create",
                "accounts": count,
                "concurrency": CONCURRENCY,
                "bare_accounts_per_s": round(bare["per_second"]),
                "bare_requests_per_s": round(bare["per_second"]),
                "connector_accounts_per_s": round(ours["per_second"]),
                "connector_requests_per_s": round(ours_requests / ours["seconds"]),
                "connector_requests": ours_requests,  # one listing of the (empty) index, then one POST each
                "ratio": round(ours["per_second"] / bare["per_second"], 3),
                "connector_peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
                "bare_peak_rss_mb": round(bare["peak_rss"] / 2**20, 1),
                "read_back_accounts_per_s": round(back["per_second"]),
                "read_back_requests": read_requests,
                "read_back_peak_rss_mb": round(back["peak_rss"] / 2**20, 1),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return results
