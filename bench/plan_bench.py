"""plan on generated districts vs a bare loop that reads the same JSON Lines and hashes every record.

Our side: extract → reconcile → map → plan from a ``package:`` source into an empty target, with a
fresh SQLite state store — the dry-run a project lead runs. The raw limit: read every
``records/*.jsonl`` line, parse it, re-serialise it canonically and SHA-256 it, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

__all__ = ["bare_loop", "our_plan"]


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


def our_plan(package: str) -> int:
    from ent_migrate.config import Config
    from ent_migrate.pipeline import PipelineContext, do_plan
    from ent_migrate.pipeline.runner import open_run
    from ent_migrate.state import make_engine, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/state.db")
        upgrade(engine)
        config = Config(
            None,
            {
                "source": {"a": {"spec": f"package:{package}"}},
                "target": {"b": {"spec": "memory:bench"}},
                "privacy": {"key": "0123456789abcdef" * 4},  # a literal key: bench only, no real data
                "report": {"dir": f"{tmp}/reports"},
            },
        )
        ctx = PipelineContext.from_config(engine, config)
        out = do_plan(ctx, open_run(ctx))
        engine.dispose()
        return sum(v for k, v in out["actions"].items() if k not in ("target_total", "invalid"))
