"""Credit lifecycle: objections (异议) and credit repairs (信用修复).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "objections",
        sa.Column("objection_id", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("record_table", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("filer", sa.String(length=200), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("mark_due", sa.Date(), nullable=False),
        sa.Column("decide_due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("marked_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("correction", sa.JSON(), nullable=True),
        sa.Column("notice", sa.Text(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('corrected', 'revoked')",
            name=op.f("ck_objections_resolution"),
        ),
        sa.CheckConstraint(
            "status IN ('filed', 'marked', 'upheld', 'rejected')", name=op.f("ck_objections_status")
        ),
        sa.PrimaryKeyConstraint("objection_id", name=op.f("pk_objections")),
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objections_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_objections_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_objections_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_objections_uscc"), ["uscc"], unique=False)

    op.create_table(
        "repairs",
        sa.Column("repair_id", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("record_table", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("applicant", sa.String(length=200), nullable=False),
        sa.Column("commitment", sa.Text(), nullable=True),
        sa.Column("obligations_evidence", sa.Text(), nullable=True),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("accept_due", sa.Date(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("decide_due", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("tier_before", sa.String(length=8), nullable=True),
        sa.Column("tier_after", sa.String(length=8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('applied', 'accepted', 'approved', 'rejected')", name=op.f("ck_repairs_status")
        ),
        sa.PrimaryKeyConstraint("repair_id", name=op.f("pk_repairs")),
    )
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repairs_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_repairs_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_repairs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_repairs_uscc"), ["uscc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repairs_uscc"))
        batch_op.drop_index(batch_op.f("ix_repairs_status"))
        batch_op.drop_index(batch_op.f("ix_repairs_record_id"))
        batch_op.drop_index(batch_op.f("ix_repairs_department"))

    op.drop_table("repairs")
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objections_uscc"))
        batch_op.drop_index(batch_op.f("ix_objections_status"))
        batch_op.drop_index(batch_op.f("ix_objections_record_id"))
        batch_op.drop_index(batch_op.f("ix_objections_department"))

    op.drop_table("objections")
