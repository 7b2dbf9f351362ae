"""Reversibility audit: hand-backs audited and the destruction-PV deadline (filled by the audit issue).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

- ``audits``: one row per ``ent-migrate audit`` run with a state store: the clause file's and the
  signed report's digests, the promised clauses not met, and the R19 destruction deadline
  (return + 3 months) with the PV's destruction date and hash, shown by ``ent-migrate status``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clause_file_sha256", sa.String(64), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=False),
        sa.Column("report_digest", sa.String(64), nullable=False),
        sa.Column("unmet", sa.Text(), nullable=False),
        sa.Column("destruction_deadline", sa.String(10), nullable=True),
        sa.Column("destroyed", sa.String(10), nullable=True),
        sa.Column("pv_sha256", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audits"),
    )


def downgrade() -> None:
    op.drop_table("audits")
