"""Identities: every token names a person in a department of a division; listings get a second approver.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("department", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("division", sa.String(length=6), nullable=True))
        batch.add_column(sa.Column("person_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("person_id")
        batch.drop_column("division")
        batch.drop_column("department")
