"""This run's blocking keys wait in ``identity_blocks_pending`` until reconcile ends (plan speed, issue 15).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

reconcile kept each batch's blocking keys straight in ``identity_blocks``. Those keys are digests,
so a batch's few thousand keys land all over the block index, and each commit wrote a page of it per
key, then the checkpoint wrote it again: a million-account reconcile wrote 28 GB and read 48 GB for
a store of about 3 GB, and took half the dry-run. A batch now appends its keys to this table, which
has no index, in its own transaction; reconcile finds them meanwhile in a private index of its own,
and moves them into ``identity_blocks`` in block order when it ends, or when the next reconcile
begins after a stop. Nothing else reads the table.

``identity_blocks`` keeps one index instead of two: unique on (block, identity id), where it had a
unique (identity id, block) and an index on block. Filled in block order, both the table and that
index grow at their end; with the old pair, one of the two took every key at a random place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _blocks(unique: list[str]) -> sa.Table:
    """``identity_blocks`` as it stands before the change, unique on *unique*: batch mode copies the
    table from it instead of reflecting the database, so the SQL can also be rendered offline."""
    return sa.Table(
        "identity_blocks",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("block", sa.String(24), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name="fk_identity_blocks_identity_id_identities", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identity_blocks"),
        sa.UniqueConstraint(*unique, name=f"uq_identity_blocks_{'_'.join(unique)}"),
    )


def upgrade() -> None:
    op.create_table(
        "identity_blocks_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("block", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_identity_blocks_pending_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identity_blocks_pending"),
    )
    op.drop_index("ix_identity_blocks_block", table_name="identity_blocks")
    # SQLite cannot drop a table's constraint in place: batch mode copies the table (once).
    with op.batch_alter_table("identity_blocks", copy_from=_blocks(["identity_id", "block"])) as batch:
        batch.drop_constraint("uq_identity_blocks_identity_id_block", type_="unique")
        batch.create_unique_constraint("uq_identity_blocks_block_identity_id", ["block", "identity_id"])


def downgrade() -> None:
    # Keys still waiting (a reconcile stopped) go where an older ent-migrate looks for them.
    op.execute(
        "INSERT INTO identity_blocks (identity_id, block)"
        " SELECT DISTINCT identity_id, block FROM identity_blocks_pending p WHERE NOT EXISTS"
        " (SELECT 1 FROM identity_blocks b WHERE b.identity_id = p.identity_id AND b.block = p.block)"
    )
    op.drop_table("identity_blocks_pending")
    with op.batch_alter_table("identity_blocks", copy_from=_blocks(["block", "identity_id"])) as batch:
        batch.drop_constraint("uq_identity_blocks_block_identity_id", type_="unique")
        batch.create_unique_constraint("uq_identity_blocks_identity_id_block", ["identity_id", "block"])
    op.create_index("ix_identity_blocks_block", "identity_blocks", ["block"])
