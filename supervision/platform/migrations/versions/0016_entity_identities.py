"""Entity identities: the ``entity`` role (the regulated market entity in the credit service zone) and the
USCC its token is bound to (issue 14).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAFF = "role IN ('inspector', 'analyst', 'supervisor', 'admin', 'system')"
WITH_ENTITY = "role IN ('inspector', 'analyst', 'supervisor', 'admin', 'system', 'entity')"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("uscc", sa.String(length=18), nullable=True))
        batch.create_index(batch.f("ix_api_tokens_uscc"), ["uscc"], unique=False)
        batch.drop_constraint(batch.f("ck_api_tokens_role"), type_="check")
        batch.create_check_constraint(batch.f("ck_api_tokens_role"), WITH_ENTITY)
        batch.create_check_constraint(
            batch.f("ck_api_tokens_entity_uscc"), "(role = 'entity') = (uscc IS NOT NULL)"
        )


def downgrade() -> None:
    # Entity tokens cannot exist without the column: they (and their page sessions) go with it.
    op.execute("DELETE FROM web_sessions WHERE token_id IN (SELECT id FROM api_tokens WHERE role = 'entity')")
    op.execute("DELETE FROM api_tokens WHERE role = 'entity'")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(batch.f("ck_api_tokens_entity_uscc"), type_="check")
        batch.drop_constraint(batch.f("ck_api_tokens_role"), type_="check")
        batch.create_check_constraint(batch.f("ck_api_tokens_role"), STAFF)
        batch.drop_index(batch.f("ix_api_tokens_uscc"))
        batch.drop_column("uscc")
