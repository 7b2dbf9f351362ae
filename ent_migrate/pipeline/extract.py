"""extract: stream canonical records out of the source into the state store, with a fingerprint each.

Rows are upserted in batches, so an interrupted extract re-run simply overwrites what it had written;
nothing is held whole in memory. Blob-carrying records also get a source-side row in the content
ledger. Every problem the source met is kept, one row per occurrence, for the reports and verdicts.

On two cores: a source whose read leaves nothing behind but its ``read_outcome`` (``reads_in_child``:
its problems, AAF's delta flag) is read in a forked child while this process stores what it reads;
the child's outcome comes back at the end (``_forked``). Each batch's rows (canonical dict and
fingerprint) are made by whichever process has time: the child while this one is behind, this one
while the child is (a slow XML reader). The rows, their order and the problems are the same either
way (tests/pipeline/test_forked_extract.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from ent_migrate.errors import InputError
from ent_migrate.model import Record
from ent_migrate.pipeline._forked import can_fork, forked_rows, round_trip
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.problems import Occurrence, Severity
from ent_migrate.state.items import BATCH, ExtractedRow, extracted_row

__all__ = ["extract"]

_V = TypeVar("_V")


# Records per upsert transaction: a commit per thousand rows was a tenth of plan's time (issue 15),
# and five thousand canonical records are a few megabytes.
_EXTRACT_BATCH = 5 * BATCH


def _batches(rows: Iterator[ExtractedRow]) -> Iterator[list[ExtractedRow]]:
    batch: list[ExtractedRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _EXTRACT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _read(ctx: PipelineContext, failed: list[InputError]) -> Iterator[Record]:
    """The source's records, capability by capability; a source that stops being readable ends them,
    its error in *failed*."""
    try:
        for capability in ctx.capabilities:
            yield from ctx.source.read(capability)
    except InputError as exc:
        failed.append(exc)


def _source_rows(ctx: PipelineContext, failed: list[InputError]) -> Iterator[ExtractedRow]:
    """:func:`_read`'s records made rows, here or in a forked child when the source allows it; then the
    source's outcome (its problems) and *failed* are what the child's were. Each batch's rows are made
    by whichever process has time for it: a child that reads slowly (XML) sends the records."""
    if not (type(ctx.source).reads_in_child and can_fork()):
        return map(extracted_row, _read(ctx, failed))

    def finish() -> tuple[object, InputError | None]:
        return ctx.source.read_outcome(), (_picklable(failed[0]) if failed else None)

    def on_end(value: tuple[object, InputError | None]) -> None:
        outcome, error = value
        ctx.source.adopt_read_outcome(outcome)  # the problems (in place), and what else the read left
        if error is not None:
            failed.append(error)

    return forked_rows(
        ctx.state.engine,
        lambda: _read(ctx, failed),
        extracted_row,
        _same,
        finish=finish,
        on_end=on_end,
        what="the source",
        lighter=(_same, extracted_row),  # a record pickles as itself
    )


def _picklable(error: InputError) -> InputError:
    """*error* if it comes back from pickling as it is (InputError and UnsafeArchiveError do: their
    ``where`` with them); else a plain InputError of the same text."""
    back = round_trip(error)
    return error if back is not None and str(back) == str(error) else InputError(str(error))


def _same(value: _V) -> _V:
    return value


def extract(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    counts: dict[str, int] = {}
    failed: list[InputError] = []
    with ctx.progress("extract", None) as advance:
        for batch in _batches(_source_rows(ctx, failed)):
            ctx.state.items.put_extracted_rows(run_id, batch)
            for row in batch:
                counts[row[0]] = counts.get(row[0], 0) + 1
            advance(len(batch))
    # A source that stops being readable (a tampered package, an archive bomb) is a problem like the
    # others: recorded, so that no report of this run can be green.
    failure = failed[0] if failed else None
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
    return {"records": counts, "problems": problems, "people": counts.get("person", 0)}
