"""Reconciliation: the review queue and the merges (so that a merge can be undone).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

- ``review_queue``: one row per (source, person, candidate identity) not decided automatically, with
  the score and the keys that matched/differed; ``decision`` once a reviewer imported one.
- ``identity_blocks``: each identity's blocking keys as keyed digests (candidates without all-pairs).
- ``identity_facts``: what matching compares for an identity (sealed like the items' payloads).
- ``identity_merges``: every alias moved from one identity into another, kept for ``merge undo``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[datetime.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "identity_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("block", sa.String(24), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name="fk_identity_blocks_identity_id_identities", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identity_blocks"),
        sa.UniqueConstraint("identity_id", "block", name="uq_identity_blocks_identity_id_block"),
    )
    op.create_index("ix_identity_blocks_block", "identity_blocks", ["block"])
    op.create_table(
        "identity_facts",
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name="fk_identity_facts_identity_id_identities", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("identity_id", name="pk_identity_facts"),
    )
    op.create_table(
        "review_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("person_key", sa.Text(), nullable=False),
        sa.Column("candidate_key", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("score", sa.String(16), nullable=False),
        sa.Column("matched", sa.Text(), nullable=False, server_default=""),
        sa.Column("differed", sa.Text(), nullable=False, server_default=""),
        sa.Column("decision", sa.String(16), nullable=True),
        _ts("created_at"),
        _ts("decided_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_queue"),
        sa.UniqueConstraint(
            "source", "person_key", "candidate_key", name="uq_review_queue_source_person_key_candidate_key"
        ),
    )
    op.create_index("ix_review_queue_decision", "review_queue", ["decision"])
    op.create_table(
        "identity_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("from_identity", sa.Text(), nullable=False),
        sa.Column("into_identity", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("undone_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_merges"),
    )


def downgrade() -> None:
    op.drop_table("identity_merges")
    op.drop_index("ix_review_queue_decision", table_name="review_queue")
    op.drop_table("review_queue")
    op.drop_table("identity_facts")
    op.drop_index("ix_identity_blocks_block", table_name="identity_blocks")
    op.drop_table("identity_blocks")
