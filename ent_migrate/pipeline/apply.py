"""apply — execute the plan idempotently.

Each operation has a deterministic key (uuid5 of run, item, action and expected fingerprint). It is
written to the journal as an *intent* and committed before it is sent; once the target acknowledges
it, the journal says *done*. A resumed run skips what the journal says is done and re-sends intents
(the target sees the same key again, so a write that did land is an upsert, not a duplicate).
Transient errors are retried with exponential backoff and jitter, honouring Retry-After, within a
capped budget; a terminal error fails only its item, which is listed. ``max_ops`` stops cleanly after
that many operations, for a staged switchover.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tenacity

from ent_migrate.contract import Operation
from ent_migrate.errors import ConnectorError, TerminalError, TransientError, UnreachableError
from ent_migrate.model import Document, Message, Production, RecordKind, record_from_dict
from ent_migrate.outcomes import WRITE_ACTIONS, Action, Stage
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.pipeline.safety import check_thresholds
from ent_migrate.state.items import PlannedRow
from ent_migrate.state.journal import Intent, Outcome

__all__ = ["OP_NAMESPACE", "ApplyResult", "RetryPolicy", "apply", "op_id"]

OP_NAMESPACE = uuid.UUID("5b0e8f1e-3f43-4a56-9a1e-2f6f0c1d7a10")
_RETRYABLE = (TransientError, TimeoutError, ConnectionError)
_OUTCOMES_PER_COMMIT = 50


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    initial: float = 0.05  # seconds
    maximum: float = 30.0  # cap of one wait, Retry-After included
    budget: float = 300.0  # total seconds one operation may spend retrying
    sleep: Callable[[float], None] = time.sleep  # replaceable so a test can see the waits


@dataclasses.dataclass
class ApplyResult:
    sent: int = 0
    done: int = 0
    already_done: int = 0
    failed: int = 0
    retries: int = 0
    pending: int = 0
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def op_id(run_id: str, kind: str, key: str, action: str, fingerprint: str | None) -> str:
    return str(uuid.uuid5(OP_NAMESPACE, f"{run_id}|{kind}|{key}|{action}|{fingerprint or ''}"))


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial, max=policy.maximum)

    def wait(state: tenacity.RetryCallState) -> float:
        delay = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            # The server said when: wait at least that long (capped), plus the jittered backoff.
            delay = min(policy.maximum, max(float(retry_after), 0.0) + delay / 4)
        return float(delay)

    return wait


def _order(kind: str, action: Action) -> tuple[int, int]:
    kinds = list(RecordKind)
    rank = kinds.index(RecordKind(kind))
    # Deletes go last, dependants first (memberships before the groups they point to).
    return (1, -rank) if action == Action.DELETE else (0, rank)


def apply(
    ctx: PipelineContext,
    run_id: str,
    policy: RetryPolicy | None = None,
    max_ops: int | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> ApplyResult:
    """Execute the stored plan. *should_stop* is asked between batches (a time window's end): when it
    says yes, apply stops cleanly as ``--max-ops`` does, and the next run resumes."""
    policy = policy or RetryPolicy()
    max_ops = max_ops if max_ops is not None else ctx.settings.max_ops
    plan_counts = ctx.state.runs.stage_counts(run_id, Stage.PLAN)
    check_thresholds(ctx.safety, plan_counts, int(plan_counts.get("target_total", 0)))
    result = ApplyResult()
    groups = sorted({(str(k), a) for k in RecordKind for a in WRITE_ACTIONS}, key=lambda ka: _order(*ka))
    workers = max(1, min(ctx.concurrency, type(ctx.target).max_concurrency))
    total = ctx.state.items.pending_writes(run_id)
    with contextlib.ExitStack() as stack, ctx.progress("apply", total) as advance:
        # One writer at a time (most targets): sent from this thread, without a pool's futures and locks.
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(max_workers=workers)) if workers > 1 else None
        for kind, action in groups:
            for rows in ctx.state.items.scan_planned(run_id, kind, action):
                if (max_ops is not None and result.sent >= max_ops) or (should_stop is not None and should_stop()):
                    result.stopped_early = True
                    break
                if max_ops is not None:
                    rows = rows[: max_ops - result.sent]
                _apply_batch(ctx, run_id, rows, pool, policy, result)
                advance(len(rows))
            if result.stopped_early:
                break
    result.pending = ctx.state.items.pending_writes(run_id)
    return result


def _apply_batch(
    ctx: PipelineContext,
    run_id: str,
    rows: Sequence[PlannedRow],
    pool: concurrent.futures.ThreadPoolExecutor | None,
    policy: RetryPolicy,
    result: ApplyResult,
) -> None:
    ops = {row.id: op_id(run_id, row.kind, row.key, row.action, row.target_fingerprint) for row in rows}
    # 1. Intent before effect: the journal knows every operation of the batch before any is sent.
    done = ctx.state.journal.intend(run_id, [Intent(ops[r.id], r.id, r.kind, r.key, r.action) for r in rows])
    todo = [r for r in rows if ops[r.id] not in done]
    result.already_done += len(rows) - len(todo)
    ctx.state.items.mark_applied([r.id for r in rows if ops[r.id] in done])
    # 2. Effects, concurrently within the target's limit; 3. outcomes journaled as they come back.
    sent: Iterator[tuple[PlannedRow, tuple[int, str | None]]]
    if pool is None:
        sent = ((r, _send(ctx, r, ops[r.id], policy)) for r in todo)
    else:
        futures = {pool.submit(_send, ctx, r, ops[r.id], policy): r for r in todo}
        sent = ((futures[f], f.result()) for f in concurrent.futures.as_completed(futures))
    outcomes: list[Outcome] = []

    def record() -> None:
        if not outcomes:
            return
        # Durable on the target before the journal says done (a target may group its fsyncs).
        ctx.target.sync()
        ctx.state.journal.record(outcomes)
        ctx.state.items.record_outcomes([(o.item_id, o.attempts, o.error) for o in outcomes])
        outcomes.clear()

    for row, (attempts, error) in sent:
        result.sent += 1
        result.retries += max(0, attempts - 1)
        if error is None:
            result.done += 1
        else:
            result.failed += 1
        outcomes.append(Outcome(ops[row.id], row.id, attempts, error))
        if len(outcomes) >= _OUTCOMES_PER_COMMIT:
            # Outcomes are committed as they come, not at the batch's end: a process killed again and
            # again still makes progress (each resume re-sends only what had no outcome yet).
            record()
    record()


def _send(ctx: PipelineContext, row: PlannedRow, key: str, policy: RetryPolicy) -> tuple[int, str | None]:
    """Send one operation with retries; return (attempts, error class and message or None)."""
    action = row.action
    record = record_from_dict(row.target_payload) if row.target_payload is not None else None
    op = Operation(op_id=key, action=action, kind=RecordKind(row.kind), key=row.key, record=record)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_RETRYABLE),
        wait=_wait(policy),
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(policy.budget),
        sleep=policy.sleep,
        reraise=True,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts += 1
                if isinstance(record, Message | Document | Production) and action is not Action.DELETE:
                    with ctx.source.open_blob(record) as blob:
                        ctx.target.write(op, blob)
                else:
                    ctx.target.write(op)
    except _RETRYABLE as exc:
        return attempts, f"retry budget spent: {type(exc).__name__}: {exc}"
    except UnreachableError:
        raise  # the target went away or refused the credentials: stop the run (exit 3), resumable
    except (TerminalError, ConnectorError) as exc:
        return attempts, f"{type(exc).__name__}: {exc}"
    return attempts, None
