"""The staged pipeline: extract → reconcile → map → plan → apply → verify.

One module per stage, all siblings on one floor: a stage imports the context, the state store's API
and the engine's shared pieces (model, outcomes, safety), never another stage. ``runner`` orchestrates
them; this package only re-exports. ``plan`` is the dry-run and never writes to the target; ``apply``
is idempotent and resumable; ``verify`` marks every item ``= + - * !``.
"""

from __future__ import annotations

from ent_migrate.outcomes import STAGES
from ent_migrate.pipeline.apply import ApplyResult, RetryPolicy
from ent_migrate.pipeline.context import PipelineContext, RunSettings
from ent_migrate.pipeline.runner import (
    PlanInputError,
    do_apply,
    do_extract,
    do_plan,
    do_run,
    do_verify,
    open_run,
    status,
)
from ent_migrate.pipeline.safety import Safety

__all__ = [
    "STAGES",
    "ApplyResult",
    "PipelineContext",
    "PlanInputError",
    "RetryPolicy",
    "RunSettings",
    "Safety",
    "do_apply",
    "do_extract",
    "do_plan",
    "do_run",
    "do_verify",
    "open_run",
    "status",
]
