"""Double-random sampling: inspector roster, tasks, selections, visits, assignments, exclusions, results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspectors",
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("division_code", sa.String(length=12), nullable=False),
        sa.Column("qualifications", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("person_key", sa.String(length=64), nullable=True),
        sa.Column("declared_conflicts", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("inspector_id", name=op.f("pk_inspectors")),
    )
    op.create_index(op.f("ix_inspectors_department"), "inspectors", ["department"], unique=False)
    op.create_index(op.f("ix_inspectors_person_key"), "inspectors", ["person_key"], unique=False)
    op.create_table(
        "sampling_tasks",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("budget", sa.JSON(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("seed_sha256", sa.String(length=64), nullable=False),
        sa.Column("roster_sha256", sa.String(length=64), nullable=False),
        sa.Column("params_sha256", sa.String(length=64), nullable=False),
        sa.Column("seed_secret", sa.String(length=64), nullable=False),
        sa.Column("revealed_seed", sa.String(length=64), nullable=True),
        sa.Column("roster_path", sa.Text(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("budget_size", sa.Integer(), nullable=False),
        sa.Column("selection_sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('created', 'drawn')", name=op.f("ck_sampling_tasks_status")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_sampling_tasks")),
    )
    op.create_index(op.f("ix_sampling_tasks_department"), "sampling_tasks", ["department"], unique=False)
    op.create_index(op.f("ix_sampling_tasks_period"), "sampling_tasks", ["period"], unique=False)
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.String(length=96), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unstaffed_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('planned', 'assigned', 'unstaffed', 'inspected')", name=op.f("ck_visits_status")
        ),
        sa.PrimaryKeyConstraint("visit_id", name=op.f("pk_visits")),
        sa.UniqueConstraint("period", "uscc", "round", name=op.f("uq_visits_period_uscc_round")),
    )
    op.create_index(op.f("ix_visits_period"), "visits", ["period"], unique=False)
    op.create_index(op.f("ix_visits_uscc"), "visits", ["uscc"], unique=False)
    op.create_table(
        "assignment_exclusions",
        sa.Column("visit_id", sa.String(length=96), nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"],
            ["inspectors.inspector_id"],
            name=op.f("fk_assignment_exclusions_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.visit_id"], name=op.f("fk_assignment_exclusions_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", "inspector_id", "reason", name=op.f("pk_assignment_exclusions")),
    )
    op.create_table(
        "inspection_results",
        sa.Column("visit_id", sa.String(length=96), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("publication_due_on", sa.Date(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('no_problem', 'violation', 'serious_violation', 'not_found')",
            name=op.f("ck_inspection_results_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.visit_id"], name=op.f("fk_inspection_results_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", name=op.f("pk_inspection_results")),
    )
    op.create_index(
        op.f("ix_inspection_results_publication_due_on"),
        "inspection_results",
        ["publication_due_on"],
        unique=False,
    )
    op.create_table(
        "task_assignments",
        sa.Column("visit_id", sa.String(length=96), nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"],
            ["inspectors.inspector_id"],
            name=op.f("fk_task_assignments_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.visit_id"], name=op.f("fk_task_assignments_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", "inspector_id", name=op.f("pk_task_assignments")),
    )
    op.create_table(
        "task_selections",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("tier", sa.String(length=1), nullable=False),
        sa.Column("inclusion_probability", sa.Float(precision=53), nullable=False),
        sa.Column("in_control_slice", sa.Boolean(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("visit_id", sa.String(length=96), nullable=True),
        sa.CheckConstraint("tier IN ('A', 'B', 'C', 'D')", name=op.f("ck_task_selections_tier")),
        sa.CheckConstraint(
            "inclusion_probability > 0 AND inclusion_probability <= 1",
            name=op.f("ck_task_selections_probability"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["sampling_tasks.task_id"], name=op.f("fk_task_selections_task_id_sampling_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.visit_id"], name=op.f("fk_task_selections_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("task_id", "uscc", name=op.f("pk_task_selections")),
    )
    op.create_index(op.f("ix_task_selections_visit_id"), "task_selections", ["visit_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_task_selections_visit_id"), table_name="task_selections")
    op.drop_table("task_selections")
    op.drop_table("task_assignments")
    op.drop_index(op.f("ix_inspection_results_publication_due_on"), table_name="inspection_results")
    op.drop_table("inspection_results")
    op.drop_table("assignment_exclusions")
    op.drop_index(op.f("ix_visits_uscc"), table_name="visits")
    op.drop_index(op.f("ix_visits_period"), table_name="visits")
    op.drop_table("visits")
    op.drop_index(op.f("ix_sampling_tasks_period"), table_name="sampling_tasks")
    op.drop_index(op.f("ix_sampling_tasks_department"), table_name="sampling_tasks")
    op.drop_table("sampling_tasks")
    op.drop_index(op.f("ix_inspectors_person_key"), table_name="inspectors")
    op.drop_index(op.f("ix_inspectors_department"), table_name="inspectors")
    op.drop_table("inspectors")
