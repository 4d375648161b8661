"""Early warning (issue 15): the warnings of each score run, and the outbox's event kind (list events and
warnings, delivered to webhook subscribers alike).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warnings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_as_of", sa.Date(), nullable=False),
        sa.Column("previous_as_of", sa.Date(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name=op.f("ck_warnings_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warnings")),
        sa.UniqueConstraint("run_as_of", "uscc", "rule", name=op.f("uq_warnings_run_as_of_uscc_rule")),
    )
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warnings_run_as_of"), ["run_as_of"], unique=False)
        batch_op.create_index(batch_op.f("ix_warnings_uscc"), ["uscc"], unique=False)
        batch_op.create_index(batch_op.f("ix_warnings_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_warnings_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_warnings_status"), ["status"], unique=False)
    with op.batch_alter_table("list_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="list", nullable=False))
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_list_events_kind"), ["kind"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM list_events WHERE kind <> 'list'")
    with op.batch_alter_table("list_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_events_kind"))
        batch_op.drop_column("data")
        batch_op.drop_column("kind")
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warnings_status"))
        batch_op.drop_index(batch_op.f("ix_warnings_department"))
        batch_op.drop_index(batch_op.f("ix_warnings_rule"))
        batch_op.drop_index(batch_op.f("ix_warnings_uscc"))
        batch_op.drop_index(batch_op.f("ix_warnings_run_as_of"))
    op.drop_table("warnings")
