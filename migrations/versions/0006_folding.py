"""Items no longer expected on the target say why (one account per identity, issue 12).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

- ``items.not_expected``: why map took an item's expected record back — ``mapping`` (a class the
  mapping renamed or split, and its memberships) or ``identity`` (a second record of a person who
  already has an account in this run, or a relation rewritten onto that account). plan turns it into
  the item's ``skip`` reason; a re-plan keeps it, since only map sets it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("not_expected", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("not_expected")
