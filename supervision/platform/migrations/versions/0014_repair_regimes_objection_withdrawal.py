"""Repairs follow the issuing authority: the repair regime and the routes met (credit training, credit report,
public-interest service); an upheld objection's withdrawal deadline and the day the publication was withdrawn.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("repairs") as batch:
        batch.add_column(sa.Column("regime", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("conditions_met", sa.JSON(), nullable=True))
    with op.batch_alter_table("objections") as batch:
        batch.add_column(sa.Column("withdraw_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("withdrawn_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("objections") as batch:
        batch.drop_column("withdrawn_on")
        batch.drop_column("withdraw_due")
    with op.batch_alter_table("repairs") as batch:
        batch.drop_column("conditions_met")
        batch.drop_column("regime")
