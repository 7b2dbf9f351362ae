"""The initial state store: runs, checkpoints, items, identities, id map, journal, content ledger, reports.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written by hand, with explicit constraint names (the models' naming convention), so that the schema
is the same on SQLite and PostgreSQL and equals the models (``tests/state`` checks it).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column[datetime.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config_digest", sa.String(64), nullable=False),
        sa.Column("report_digest", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "stage_checkpoints",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        _ts("updated_at"),
        _run_fk("stage_checkpoints"),
        sa.PrimaryKeyConstraint("run_id", "stage", name="pk_stage_checkpoints"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source_fingerprint", sa.String(64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("target_payload", sa.JSON(), nullable=True),
        sa.Column("target_fingerprint", sa.String(64), nullable=True),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("mark", sa.String(1), nullable=True),
        sa.Column("mark_reason", sa.Text(), nullable=True),
        _ts("updated_at"),
        _run_fk("items"),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        sa.UniqueConstraint("run_id", "kind", "key", name="uq_items_run_id_kind_key"),
    )
    op.create_index("ix_items_run_id_state", "items", ["run_id", "state"])
    op.create_index("ix_items_run_id_id", "items", ["run_id", "id"])
    op.create_index("ix_items_run_id_kind_id", "items", ["run_id", "kind", "id"])
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canonical_id", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(16), nullable=False),
        sa.Column("ine", sa.String(16), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint("canonical_id", name="uq_identities_canonical_id"),
    )
    op.create_index("ix_identities_ine", "identities", ["ine"])
    op.create_table(
        "identity_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name="fk_identity_aliases_identity_id_identities", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identity_aliases"),
        sa.UniqueConstraint("source", "source_id", name="uq_identity_aliases_source_source_id"),
    )
    op.create_index("ix_identity_aliases_identity_id", "identity_aliases", ["identity_id"])
    op.create_table(
        "id_map",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("old_id", sa.Text(), nullable=False),
        sa.Column("new_id", sa.Text(), nullable=False),
        sa.Column("old_login", sa.Text(), nullable=True),
        sa.Column("new_login", sa.Text(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_id_map"),
        sa.UniqueConstraint("source", "old_id", name="uq_id_map_source_old_id"),
        sa.UniqueConstraint("new_login", name="uq_id_map_new_login"),
    )
    op.create_table(
        "journal",
        sa.Column("op_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _run_fk("journal"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_journal_item_id_items", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("op_id", name="pk_journal"),
    )
    op.create_index("ix_journal_run_id_status", "journal", ["run_id", "status"])
    op.create_index("ix_journal_item_id", "journal", ["item_id"])
    op.create_table(
        "content_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        _run_fk("content_ledger"),
        sa.PrimaryKeyConstraint("id", name="pk_content_ledger"),
        sa.UniqueConstraint("run_id", "kind", "key", "side", name="uq_content_ledger_run_id_kind_key_side"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        _run_fk("reports"),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
    )
    op.create_index("ix_reports_run_id", "reports", ["run_id"])


def downgrade() -> None:
    # Children before parents, so no foreign key is ever left dangling.
    op.drop_index("ix_reports_run_id", table_name="reports")
    op.drop_table("reports")
    op.drop_table("content_ledger")
    op.drop_index("ix_journal_item_id", table_name="journal")
    op.drop_index("ix_journal_run_id_status", table_name="journal")
    op.drop_table("journal")
    op.drop_table("id_map")
    op.drop_index("ix_identity_aliases_identity_id", table_name="identity_aliases")
    op.drop_table("identity_aliases")
    op.drop_index("ix_identities_ine", table_name="identities")
    op.drop_table("identities")
    op.drop_index("ix_items_run_id_kind_id", table_name="items")
    op.drop_index("ix_items_run_id_id", table_name="items")
    op.drop_index("ix_items_run_id_state", table_name="items")
    op.drop_table("items")
    op.drop_table("stage_checkpoints")
    op.drop_table("runs")
