"""The state store's own floor: what the cheapest journaled dry-run of the same records would cost.

The bare loop of plan_bench reads, re-serialises and hashes each record, and stores nothing. A dry-run
that can be resumed after a kill must at least store each record once (extract), store what the target
should hold (map) and store the decision (plan), each batch in its own transaction. This does exactly
that and nothing else, with sqlite3 alone, on the real schema (Alembic's head: the same table and
indexes), with the store's own pragmas (WAL, synchronous=NORMAL): no reconciliation, no logins, no
report. ``plan``'s ratio to this figure says how much of a plan is our Python and how much the store.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from pathlib import Path

__all__ = ["store_floor"]

_BATCH = 1000  # the pipeline's batch (ent_migrate.state._sql.BATCH)


def store_floor(package: str) -> int:
    from ent_migrate.state import make_engine, upgrade
    from ent_migrate.state.runs import Runs

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/state.db")
        upgrade(engine)
        run = Runs(engine).open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
        engine.dispose()
        db = sqlite3.connect(f"{tmp}/state.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        n, batch = 0, list[tuple[object, ...]]()
        insert = (
            "INSERT INTO items (run_id, kind, key, state, source_fingerprint, payload, attempts, updated_at)"
            " VALUES (?, ?, ?, 'extracted', ?, ?, 0, '2026-12-03 00:00:00.000000')"
        )
        for path in sorted((Path(package) / "records").glob("*.jsonl")):
            with path.open("rb") as fh:
                for line in fh:
                    record = json.loads(line)
                    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                    digest = hashlib.sha256(canonical.encode()).hexdigest()
                    batch.append((run, path.stem, str(n), digest, canonical))
                    n += 1
                    if len(batch) == _BATCH:
                        _commit(db, insert, batch)
        _commit(db, insert, batch)
        # map: the expected record; plan: the decision. One UPDATE per item, a transaction per batch.
        for update in _UPDATES:
            last = 0
            while ids := [r[0] for r in db.execute(_PAGE, (run, last))]:
                _commit(db, update, [(i,) for i in ids])
                last = ids[-1]
        db.close()
    return n


_UPDATES = (
    # Expected as extracted, without a copy (Items.expect_as_extracted).
    "UPDATE items SET target_fingerprint = source_fingerprint, state = 'mapped' WHERE id = ?",
    "UPDATE items SET action = 'create', reason = 'absent from the target', state = 'planned' WHERE id = ?",
)
_PAGE = "SELECT id FROM items WHERE run_id = ? AND id > ? ORDER BY id LIMIT 1000"


def _commit(db: sqlite3.Connection, statement: str, rows: list[tuple[object, ...]]) -> None:
    db.execute("BEGIN")
    db.executemany(statement, rows)
    db.execute("COMMIT")
    rows.clear()
