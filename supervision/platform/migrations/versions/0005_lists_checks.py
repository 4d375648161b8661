"""Credit lifecycle: joint-punishment list cases, their event outbox, and embedded-check records.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("matter", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=True),
        sa.Column("result_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_records")),
    )
    with op.batch_alter_table("check_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_check_records_caller"), ["caller"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_records_uscc"), ["uscc"], unique=False)

    op.create_table(
        "list_cases",
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("list_type", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.Column("response_due", sa.Date(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("basis_document_no", sa.String(length=128), nullable=True),
        sa.Column("listed_on", sa.Date(), nullable=True),
        sa.Column("rectification_due", sa.Date(), nullable=True),
        sa.Column("rectified_on", sa.Date(), nullable=True),
        sa.Column("interviewed_on", sa.Date(), nullable=True),
        sa.Column("min_exit_on", sa.Date(), nullable=True),
        sa.Column("max_end", sa.Date(), nullable=True),
        sa.Column("exited_on", sa.Date(), nullable=True),
        sa.Column("exit_reason", sa.String(length=16), nullable=True),
        sa.Column("accountable", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('proposed', 'listed', 'rectified', 'withdrawn', 'exited')",
            name=op.f("ck_list_cases_status"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_list_cases")),
    )
    with op.batch_alter_table("list_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_cases_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_cases_list_type"), ["list_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_cases_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_cases_uscc"), ["uscc"], unique=False)

    op.create_table(
        "list_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("list_type", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_events")),
    )
    with op.batch_alter_table("list_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_events_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_events_uscc"), ["uscc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("list_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_events_uscc"))
        batch_op.drop_index(batch_op.f("ix_list_events_case_id"))

    op.drop_table("list_events")
    with op.batch_alter_table("list_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_cases_uscc"))
        batch_op.drop_index(batch_op.f("ix_list_cases_status"))
        batch_op.drop_index(batch_op.f("ix_list_cases_list_type"))
        batch_op.drop_index(batch_op.f("ix_list_cases_department"))

    op.drop_table("list_cases")
    with op.batch_alter_table("check_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_records_uscc"))
        batch_op.drop_index(batch_op.f("ix_check_records_caller"))

    op.drop_table("check_records")
