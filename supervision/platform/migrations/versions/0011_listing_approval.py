"""Listing approval (四眼原则): who proposed a listing and the second approver of the same department.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_cases") as batch:
        batch.add_column(sa.Column("proposed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("proposer_person_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("approver_person_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("approved_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_cases") as batch:
        batch.drop_column("approved_on")
        batch.drop_column("approver_person_id")
        batch.drop_column("approved_by")
        batch.drop_column("proposer_person_id")
        batch.drop_column("proposed_by")
