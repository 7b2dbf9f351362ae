"""Cycle-3 promotion: pupils' per-pupil states and transitions (filled by the promotion issue).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

- ``promotion_pupils``: one row per CM2 pupil and school year, with its state, collège and target id.
- ``promotion_transitions``: every state change, written as ``intent`` before its effect, then ``done``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column[datetime.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "promotion_pupils",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("school_year", sa.Integer(), nullable=False),
        sa.Column("school_uai", sa.String(16), nullable=False),
        sa.Column("college_uai", sa.String(16), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(48), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("opted_out", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("detail", sa.JSON(), nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("key", name="pk_promotion_pupils"),
    )
    op.create_index("ix_promotion_pupils_school_year_state", "promotion_pupils", ["school_year", "state"])
    op.create_table(
        "promotion_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pupil_key", sa.Text(), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(48), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_promotion_transitions"),
    )
    op.create_index("ix_promotion_transitions_pupil_key", "promotion_transitions", ["pupil_key"])


def downgrade() -> None:
    op.drop_index("ix_promotion_transitions_pupil_key", table_name="promotion_transitions")
    op.drop_table("promotion_transitions")
    op.drop_index("ix_promotion_pupils_school_year_state", table_name="promotion_pupils")
    op.drop_table("promotion_pupils")
