"""The service zone's filings (issue 14): uploaded documents, the documents of a repair application, and
voluntary self-reports (自愿注册) with their verification.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "media_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_documents_media_type"),
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_documents_size")),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_documents")),
        sa.UniqueConstraint("sha256", "uscc", name=op.f("uq_documents_sha256_uscc")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_documents_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_documents_uscc"), ["uscc"], unique=False)

    op.create_table(
        "repair_documents",
        sa.Column("repair_id", sa.String(length=40), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["repair_id"],
            ["repairs.repair_id"],
            name=op.f("fk_repair_documents_repair_id_repairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repair_id", "condition", name=op.f("pk_repair_documents")),
    )
    with op.batch_alter_table("repair_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repair_documents_sha256"), ["sha256"], unique=False)

    op.create_table(
        "self_reports",
        sa.Column("report_id", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'verified', 'rejected')", name=op.f("ck_self_reports_status")
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_self_reports")),
    )
    with op.batch_alter_table("self_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_self_reports_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_self_reports_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_self_reports_uscc"), ["uscc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("self_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_self_reports_uscc"))
        batch_op.drop_index(batch_op.f("ix_self_reports_status"))
        batch_op.drop_index(batch_op.f("ix_self_reports_department"))
    op.drop_table("self_reports")
    with op.batch_alter_table("repair_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repair_documents_sha256"))
    op.drop_table("repair_documents")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_uscc"))
        batch_op.drop_index(batch_op.f("ix_documents_sha256"))
    op.drop_table("documents")
