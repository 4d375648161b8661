"""List publication (名单公示): a listed case's publication deadline (list.publish) and the day it was
published.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_cases") as batch:
        batch.add_column(sa.Column("publish_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("published_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_cases") as batch:
        batch.drop_column("published_on")
        batch.drop_column("publish_due")
