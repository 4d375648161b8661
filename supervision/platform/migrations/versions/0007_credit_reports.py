"""Credit lifecycle: issued credit reports (number and verification hash).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_reports",
        sa.Column("report_no", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("authorised", sa.Boolean(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("report_no", name=op.f("pk_credit_reports")),
    )
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_reports_uscc"), ["uscc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_reports_uscc"))

    op.drop_table("credit_reports")
