"""extract: stream canonical records out of the source into the state store, with a fingerprint each.

Rows are upserted in batches, so an interrupted extract re-run simply overwrites what it had written;
nothing is held whole in memory. Blob-carrying records also get a source-side row in the content
ledger. Every problem the source met is kept, one row per occurrence, for the reports and verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ent_migrate.errors import InputError
from ent_migrate.model import Record
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.problems import Occurrence, Severity
from ent_migrate.state.items import BATCH

__all__ = ["extract"]


# Records per upsert transaction: a commit per thousand rows was a tenth of plan's time (issue 15),
# and five thousand canonical records are a few megabytes.
_EXTRACT_BATCH = 5 * BATCH


def _batches(records: Iterator[Record]) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= _EXTRACT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def extract(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    counts: dict[str, int] = {}
    failure: InputError | None = None
    with ctx.progress("extract", None) as advance:
        try:
            for capability in ctx.capabilities:
                for batch in _batches(ctx.source.read(capability)):
                    ctx.state.items.put_extracted(run_id, batch)
                    for record in batch:
                        counts[str(record.kind)] = counts.get(str(record.kind), 0) + 1
                    advance(len(batch))
        except InputError as exc:
            # A source that stops being readable (a tampered package, an archive bomb) is a problem
            # like the others: recorded, so that no report of this run can be green.
            failure = exc
    ctx.state.problems.clear(run_id)
    occurrences: list[Occurrence] = list(ctx.source.problems.occurrences())
    if failure is not None:
        occurrences.append(
            Occurrence("source.unreadable", Severity.ERROR, failure.where or ctx.source_name, str(failure))
        )
    for start in range(0, len(occurrences), BATCH):
        ctx.state.problems.add(run_id, occurrences[start : start + BATCH])
    problems = ctx.source.problems.to_list()
    if failure is not None:
        raise failure
    ctx.state.refresh_statistics()  # the run's items were just loaded: reconcile's queries plan on them
    people = counts.get("person", 0)
    return {"records": counts, "problems": problems, "people": people}
