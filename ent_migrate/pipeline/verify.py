"""verify — read the target back and give every item a mark, as ``rclone check --combined`` does.

``=`` same · ``+`` missing on the target · ``-`` only on the target · ``*`` differs · ``!`` error.
Accounts, each relation edge, each message and document are compared by fingerprint with the
expected record; blobs are checked by SHA-256 too (the target's own hash when it has the blob-hash
capability, else by reading the bytes back).

The verdict is only as good as what was read: a source with reading errors is never certified (the
verdict is then "incomplete source", whatever the marks say).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ent_migrate.contract import Capability
from ent_migrate.errors import ConnectorError
from ent_migrate.model import Document, Message, Production, Record, fingerprint_of
from ent_migrate.outcomes import DIFFERENCE_MARKS, Action, Mark, Verdict
from ent_migrate.pipeline.context import PipelineContext

__all__ = ["verdict_of", "verify"]


def verdict_of(marks: dict[str, int], input_errors: int, accepted_errors: int = 0) -> Verdict:
    """What a verify certifies: complete only with no difference and a source read whole (or with no
    more errors than the lead accepted, which the report states)."""
    if input_errors > accepted_errors:
        return Verdict.INCOMPLETE_SOURCE
    if any(marks.get(str(m), 0) for m in DIFFERENCE_MARKS):
        return Verdict.DIFFERENCES
    return Verdict.COMPLETE


def verify(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items = ctx.state.items
    items.clear_marks(run_id)
    if Capability.READ_BACK not in ctx.target.capabilities:
        raise ConnectorError(f"{ctx.target_spec}: the {ctx.target.name} connector cannot read back; nothing to verify")
    for batch in ctx.read_target_batches("verify"):
        _mark_batch(ctx, run_id, batch)
    items.mark_unseen(run_id)
    marks = items.mark_counts(run_id)
    errors = ctx.state.problems.errors(run_id)
    accepted = ctx.safety.max_input_errors if ctx.safety.max_input_errors != -1 else errors
    verdict = verdict_of(marks, errors, accepted)
    ctx.state.runs.set_verdict(run_id, verdict)
    return {"marks": marks, "verdict": str(verdict), "input_errors": errors, "accepted_input_errors": accepted}


def _blob_check(ctx: PipelineContext, record: Record) -> str | None:
    """None when the target's bytes hash to the record's SHA-256, else why not."""
    if not isinstance(record, Message | Document | Production) or ctx.settings.verify_blobs == "none":
        return None
    try:
        if ctx.settings.verify_blobs == "hash" and Capability.BLOB_HASH in ctx.target.capabilities:
            actual = ctx.target.blob_sha256(record)
        else:
            digest = hashlib.sha256()
            with ctx.target.open_blob(record) as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            actual = digest.hexdigest()
    except ConnectorError as exc:
        return f"blob unreadable: {type(exc).__name__}"
    return None if actual == record.sha256 else "blob sha256 differs"


def _mark_batch(ctx: PipelineContext, run_id: str, records: Sequence[Record]) -> None:
    if not records:
        return
    items = ctx.state.items
    found = items.expected_for(run_id, records, payloads=False)  # fingerprints are compared
    marks: list[tuple[int, Mark, str]] = []
    extra: list[tuple[Record, Action, str, None]] = []
    for record in records:
        row = found.get((str(record.kind), record.key))
        if row is None:
            extra.append((record, Action.SKIP, "only on the target (appeared after plan)", None))
            continue
        if row.target_fingerprint is None:
            why = "should have been deleted" if row.action == Action.DELETE else "only on the target"
            marks.append((row.id, Mark.EXTRA, why))
        elif fingerprint_of(record.to_dict()) != row.target_fingerprint:
            marks.append((row.id, Mark.DIFFERS, "fingerprint differs"))
        else:
            problem = _blob_check(ctx, record)
            marks.append((row.id, Mark.DIFFERS if problem else Mark.SAME, problem or "same"))
    items.set_marks(marks)
    items.add_target_only(run_id, extra, mark=Mark.EXTRA, mark_reason="only on the target")
    items.record_target_blobs(run_id, [r for r in records if isinstance(r, Message | Document | Production)])
