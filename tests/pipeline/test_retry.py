"""Retries: exponential backoff with jitter, Retry-After honoured and capped, a budget that ends."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Operation
from ent_migrate.errors import TransientError
from ent_migrate.pipeline import RetryPolicy, do_plan
from ent_migrate.pipeline.apply import apply
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import context, district, fill


def _flaky(ctx: Any, failures: int, retry_after: float | None) -> dict[str, int]:
    """The target answers 429-like errors *failures* times per operation, then accepts it.
    (Injected: a real server's rate limiting can't be triggered on demand and deterministically.)"""
    real = ctx.target.write
    seen: dict[str, int] = {}

    def write(op: Operation, blob: IO[bytes] | None = None) -> None:
        seen[op.op_id] = seen.get(op.op_id, 0) + 1
        if seen[op.op_id] <= failures:
            raise TransientError("rate limited", retry_after=retry_after)
        real(op, blob)

    ctx.target.write = write
    return seen


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district(pupils=1))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    seen = _flaky(ctx, failures=2, retry_after=3.0)
    waits: list[float] = []
    result = apply(ctx, run_id, RetryPolicy(sleep=waits.append, maximum=10.0))
    assert result.failed == 0
    assert result.done == len(seen)
    assert result.retries == 2 * len(seen)
    assert waits
    assert all(3.0 <= w <= 10.0 for w in waits)


def test_retry_after_is_capped_and_backoff_grows(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district(pupils=1))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    _flaky(ctx, failures=1, retry_after=3600.0)
    waits: list[float] = []
    apply(ctx, run_id, RetryPolicy(sleep=waits.append, maximum=5.0))
    assert waits
    assert max(waits) <= 5.0


def test_budget_spent_fails_the_item_with_the_reason(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district(pupils=1))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    seen = _flaky(ctx, failures=100, retry_after=None)
    waits: list[float] = []
    result = apply(ctx, run_id, RetryPolicy(attempts=4, sleep=waits.append))
    assert result.done == 0
    assert result.failed == len(seen)
    assert all(n == 4 for n in seen.values())
    # exponential backoff with jitter: waits stay under initial * 2**attempt
    assert all(0 <= w <= 0.05 * 2**4 for w in waits)
