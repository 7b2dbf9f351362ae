"""Runs keyed by configured names, plan revisions and verdicts; input problems; the run lock.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

- ``runs.source_name`` / ``target_name``: a run and its identities are keyed by the configured
  ``[source.NAME]`` / ``[target.NAME]``, never by a path (a re-delivery under another file name is the
  same source); ``plan_revision`` counts re-plans; ``applied_plan_digest`` says which reviewed plan
  report apply executed; ``verdict`` what the last verify certified.
- ``reports.revision``: each plan revision and each verify has its own report folder.
- ``input_problems``: every problem met reading the source, one row each, for the reports and verdicts.
- ``run_locks``: who holds the state store's write lock (for the message a second process gets).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column[datetime.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table's columns in place; Alembic copies it.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("source_name", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("target_name", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("plan_revision", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("applied_plan_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("verdict", sa.String(24), nullable=True))
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "input_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_input_problems_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_input_problems"),
    )
    op.create_index("ix_input_problems_run_id_code", "input_problems", ["run_id", "code"])
    op.create_table(
        "run_locks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        _ts("acquired_at"),
        sa.PrimaryKeyConstraint("name", name="pk_run_locks"),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
    op.drop_index("ix_input_problems_run_id_code", table_name="input_problems")
    op.drop_table("input_problems")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("revision")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("verdict")
        batch.drop_column("applied_plan_digest")
        batch.drop_column("plan_revision")
        batch.drop_column("target_name")
        batch.drop_column("source_name")
