"""Ingest batch ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_batch",
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rows_read = rows_accepted + rows_quarantined", name=op.f("ck_ingest_batch_rows_balance")
        ),
        sa.CheckConstraint(
            "rows_accepted >= 0 AND rows_quarantined >= 0", name=op.f("ck_ingest_batch_rows_non_negative")
        ),
        sa.CheckConstraint("length(content_sha256) = 64", name=op.f("ck_ingest_batch_content_sha256_length")),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_ingest_batch")),
    )
    op.create_index(op.f("ix_ingest_batch_content_sha256"), "ingest_batch", ["content_sha256"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ingest_batch_content_sha256"), table_name="ingest_batch")
    op.drop_table("ingest_batch")
