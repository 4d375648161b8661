"""双公示 of the ten kinds of administrative decisions (issue 14): each registered decision's kind, the
parallel 20-working-day clock of inspection results, and the withdrawal of a revoked decision.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUS = "status IN ('pending', 'published')"
STATUS = "status IN ('pending', 'published', 'withdrawn')"
RECORD_TABLE = "record_table IN ('licences', 'penalties', 'inspections', 'decisions')"
KIND = (
    "kind IN ('licence', 'penalty', 'enforcement', 'confirmation', 'levy', 'benefit', 'adjudication', "
    "'compensation', 'reward', 'inspection')"
)


def upgrade() -> None:
    with op.batch_alter_table("disclosures") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("due_on_samr", sa.Date(), nullable=True))
        batch.add_column(sa.Column("rule_samr", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("revoked_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("revocation", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("withdraw_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("withdraw_rule", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("withdrawn_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("withdraw_reason", sa.String(length=500), nullable=True))
    # The rows registered so far are licences and penalties.
    op.execute(
        "UPDATE disclosures SET kind = CASE record_table WHEN 'licences' THEN 'licence' ELSE 'penalty' END"
    )
    with op.batch_alter_table("disclosures") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=16), nullable=False)
        batch.create_index(batch.f("ix_disclosures_kind"), ["kind"], unique=False)
        batch.drop_constraint(batch.f("ck_disclosures_status"), type_="check")
        batch.create_check_constraint(batch.f("ck_disclosures_status"), STATUS)
        batch.create_check_constraint(batch.f("ck_disclosures_record_table"), RECORD_TABLE)
        batch.create_check_constraint(batch.f("ck_disclosures_kind"), KIND)


def downgrade() -> None:
    # The older schema knows licences and penalties, pending or published, only. A withdrawn decision must not
    # come back as published: its row goes (registering again makes it pending, never public).
    op.execute("DELETE FROM disclosures WHERE record_table NOT IN ('licences', 'penalties')")
    op.execute("DELETE FROM disclosures WHERE status = 'withdrawn'")
    with op.batch_alter_table("disclosures") as batch:
        batch.drop_constraint(batch.f("ck_disclosures_kind"), type_="check")
        batch.drop_constraint(batch.f("ck_disclosures_record_table"), type_="check")
        batch.drop_constraint(batch.f("ck_disclosures_status"), type_="check")
        batch.create_check_constraint(batch.f("ck_disclosures_status"), OLD_STATUS)
        batch.drop_index(batch.f("ix_disclosures_kind"))
        batch.drop_column("withdraw_reason")
        batch.drop_column("withdrawn_on")
        batch.drop_column("withdraw_rule")
        batch.drop_column("withdraw_due")
        batch.drop_column("revocation")
        batch.drop_column("revoked_on")
        batch.drop_column("rule_samr")
        batch.drop_column("due_on_samr")
        batch.drop_column("kind")
