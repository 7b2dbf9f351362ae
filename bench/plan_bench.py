"""plan on generated districts vs a bare loop that reads the same JSON Lines and hashes every record.

Our side: extract → reconcile → map → plan from a ``package:`` source into an empty target, with a
fresh state store (SQLite, or a fresh database on a PostgreSQL server) — the dry-run a project lead
runs. The raw limit: read every ``records/*.jsonl`` line, parse it, re-serialise it canonically and
SHA-256 it, nothing else.

apply + verify: the same plan executed into a ``package:`` directory target (durable: an fsync per
write, as in production), then verified; timed from the end of the plan. The raw limit: append each
record's JSON line to a file and fsync it, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["bare_loop", "bare_write_fsync", "fresh_database", "our_apply_verify", "our_plan", "postgres_server"]


def bare_loop(package: str) -> int:
    n = 0
    for path in sorted((Path(package) / "records").glob("*.jsonl")):
        with path.open("rb") as fh:
            for line in fh:
                record = json.loads(line)
                hashlib.sha256(
                    json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                ).hexdigest()
                n += 1
    return n


def bare_write_fsync(package: str) -> int:
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        fd = os.open(f"{tmp}/out.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for path in sorted((Path(package) / "records").glob("*.jsonl")):
                with path.open("rb") as fh:
                    for line in fh:
                        os.write(fd, line)
                        os.fsync(fd)
                        n += 1
        finally:
            os.close(fd)
    return n


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL on 127.0.0.1 (the tests' helper: stopped by pid), as a SQLAlchemy URL."""
    from tests.servers.postgres import postgres_url

    fixture: Any = postgres_url  # the fixture's own generator, outside pytest
    with contextlib.contextmanager(fixture.__wrapped__)() as url:
        yield url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A fresh, empty database on that server, dropped afterwards (the tests' helper too)."""
    from tests.servers.postgres import fresh_database as tests_fresh_database

    with tests_fresh_database(server_url) as url:
        yield url


def _context(tmp: str, package: str, url: str, target: str) -> Any:
    from ent_migrate.config import Config
    from ent_migrate.pipeline import PipelineContext
    from ent_migrate.state import make_engine, upgrade

    engine = make_engine(url or f"sqlite:///{tmp}/state.db")
    upgrade(engine)
    config = Config(
        None,
        {
            "source": {"a": {"spec": f"package:{package}"}},
            "target": {"b": {"spec": target}},
            "privacy": {"key": "0123456789abcdef" * 4},  # a literal key: bench only, no real data
            "report": {"dir": f"{tmp}/reports"},
        },
    )
    return engine, PipelineContext.from_config(engine, config)


def _planned(out: dict[str, Any]) -> int:
    return sum(v for k, v in out["actions"].items() if k not in ("target_total", "invalid"))


def our_plan(package: str, server_url: str = "") -> int:
    from ent_migrate.pipeline import do_plan
    from ent_migrate.pipeline.runner import open_run

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(server_url)) if server_url else ""
        engine, ctx = _context(tmp, package, url, "memory:bench")
        out = do_plan(ctx, open_run(ctx))
        engine.dispose()
        return _planned(out)


def our_apply_verify(package: str) -> dict[str, Any]:
    """Plan (not timed), then apply and verify into a durable package directory (timed)."""
    from ent_migrate.pipeline import do_plan
    from ent_migrate.pipeline.runner import do_apply, do_verify, open_run

    with tempfile.TemporaryDirectory() as tmp:
        Path(f"{tmp}/target").mkdir()  # a package target is an existing folder (or a .zip)
        engine, ctx = _context(tmp, package, "", f"package:{tmp}/target")
        run_id = open_run(ctx)
        do_plan(ctx, run_id)
        start = time.perf_counter()
        applied = do_apply(ctx, run_id)
        verified = do_verify(ctx, run_id)
        seconds = time.perf_counter() - start
        engine.dispose()
        return {
            "count": int(sum(verified["marks"].values())),
            "seconds": seconds,
            "verdict": str(verified["verdict"]),
            "applied": int(applied.get("done", 0)),
        }
