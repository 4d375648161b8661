"""Credit lifecycle: credit commitments and 双公示 disclosure tracking.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
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
    op.create_table(
        "credit_commitments",
        sa.Column("commitment_id", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("matter", sa.String(length=64), nullable=False),
        sa.Column("commitment_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("licence_id", sa.String(length=128), nullable=True),
        sa.Column("signatory", sa.String(length=100), nullable=True),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("determined_on", sa.Date(), nullable=True),
        sa.Column("breach_facts", sa.Text(), nullable=True),
        sa.Column("interviewed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'fulfilled', 'breached', 'interviewed')",
            name=op.f("ck_credit_commitments_status"),
        ),
        sa.PrimaryKeyConstraint("commitment_id", name=op.f("pk_credit_commitments")),
    )
    with op.batch_alter_table("credit_commitments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_commitments_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_commitments_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_commitments_uscc"), ["uscc"], unique=False)

    op.create_table(
        "disclosures",
        sa.Column("record_table", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'published')", name=op.f("ck_disclosures_status")),
        sa.PrimaryKeyConstraint("record_table", "record_id", name=op.f("pk_disclosures")),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosures_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_disclosures_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_disclosures_uscc"), ["uscc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosures_uscc"))
        batch_op.drop_index(batch_op.f("ix_disclosures_status"))
        batch_op.drop_index(batch_op.f("ix_disclosures_department"))

    op.drop_table("disclosures")
    with op.batch_alter_table("credit_commitments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_commitments_uscc"))
        batch_op.drop_index(batch_op.f("ix_credit_commitments_status"))
        batch_op.drop_index(batch_op.f("ix_credit_commitments_department"))

    op.drop_table("credit_commitments")
