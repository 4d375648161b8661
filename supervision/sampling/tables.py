"""The sampling tables: inspector roster, tasks, visits, selections, assignments, exclusions and results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from features.catalog import INSPECTION_OUTCOMES
from supervision.platform.db import Base
from supervision.sampling.ratios import TIERS

__all__ = [
    "TASK_STATUSES",
    "VISIT_STATUSES",
    "AssignmentExclusion",
    "InspectionResult",
    "Inspector",
    "SamplingTask",
    "TaskAssignment",
    "TaskSelection",
    "Visit",
    "utcnow",
]

TASK_STATUSES = ("created", "drawn")
VISIT_STATUSES = ("planned", "assigned", "unstaffed", "inspected")


def utcnow() -> datetime:
    """The instant rows are stamped with (UTC); dates the rules compare come from the caller's clock."""
    return datetime.now(UTC)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Inspector(Base):
    """执法检查人员名录库: one inspector, with qualifications and declared conflicts of interest."""

    __tablename__ = "inspectors"

    inspector_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    division_code: Mapped[str] = mapped_column(sa.String(12))
    qualifications: Mapped[list[str]] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    person_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # [{"uscc": ...} | {"person_key": ...}] — declared by the inspector (回避申报).
    declared_conflicts: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SamplingTask(Base):
    """A sampling task and what was published about it (hashes at creation, the seed at the draw)."""

    __tablename__ = "sampling_tasks"
    __table_args__ = (sa.CheckConstraint(_in("status", TASK_STATUSES), name="status"),)

    task_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    period: Mapped[str] = mapped_column(sa.String(32), index=True)
    as_of: Mapped[date] = mapped_column(sa.Date)
    scope: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    items: Mapped[list[str]] = mapped_column(sa.JSON)
    budget: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    policy: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # The exact bytes hashed into params_sha256 (canonical JSON), so verification needs nothing else.
    params_json: Mapped[str] = mapped_column(sa.Text)
    seed_sha256: Mapped[str] = mapped_column(sa.String(64))
    roster_sha256: Mapped[str] = mapped_column(sa.String(64))
    params_sha256: Mapped[str] = mapped_column(sa.String(64))
    # Held back until the draw (then copied to revealed_seed); production keeps it in a secrets store.
    seed_secret: Mapped[str] = mapped_column(sa.String(64))
    revealed_seed: Mapped[str | None] = mapped_column(sa.String(64))
    roster_path: Mapped[str] = mapped_column(sa.Text)
    eligible: Mapped[int] = mapped_column(sa.Integer)
    budget_size: Mapped[int] = mapped_column(sa.Integer)
    selection_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    drawn_at: Mapped[datetime | None]


class Visit(Base):
    """One trip to one entity in a period, covering the items of every department's task
    (进一次门、查多项事)."""

    __tablename__ = "visits"
    __table_args__ = (
        sa.CheckConstraint(_in("status", VISIT_STATUSES), name="status"),
        sa.UniqueConstraint("period", "uscc", "round"),
    )

    visit_id: Mapped[str] = mapped_column(sa.String(96), primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(32), index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    round: Mapped[int] = mapped_column(sa.Integer)
    items: Mapped[list[str]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16))
    unstaffed_reason: Mapped[str | None] = mapped_column(sa.Text)


class TaskSelection(Base):
    """An entity on a task's list with its exact inclusion probability (training weights by its inverse)."""

    __tablename__ = "task_selections"
    __table_args__ = (
        sa.CheckConstraint("inclusion_probability > 0 AND inclusion_probability <= 1", name="probability"),
        sa.CheckConstraint(_in("tier", TIERS), name="tier"),
    )

    task_id: Mapped[str] = mapped_column(sa.ForeignKey("sampling_tasks.task_id"), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    tier: Mapped[str] = mapped_column(sa.String(1))
    inclusion_probability: Mapped[float] = mapped_column(sa.Float(precision=53))
    in_control_slice: Mapped[bool] = mapped_column(sa.Boolean)
    items: Mapped[list[str]] = mapped_column(sa.JSON)
    visit_id: Mapped[str | None] = mapped_column(sa.ForeignKey("visits.visit_id"), index=True)


class TaskAssignment(Base):
    __tablename__ = "task_assignments"

    visit_id: Mapped[str] = mapped_column(sa.ForeignKey("visits.visit_id"), primary_key=True)
    inspector_id: Mapped[str] = mapped_column(sa.ForeignKey("inspectors.inspector_id"), primary_key=True)


class AssignmentExclusion(Base):
    """Why an inspector may not go on a visit (回避), kept for the audit of the draw."""

    __tablename__ = "assignment_exclusions"

    visit_id: Mapped[str] = mapped_column(sa.ForeignKey("visits.visit_id"), primary_key=True)
    inspector_id: Mapped[str] = mapped_column(sa.ForeignKey("inspectors.inspector_id"), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(32), primary_key=True)


class InspectionResult(Base):
    """What the visit found, and the publication clock (谁检查、谁录入、谁公开)."""

    __tablename__ = "inspection_results"
    __table_args__ = (sa.CheckConstraint(_in("outcome", INSPECTION_OUTCOMES), name="outcome"),)

    visit_id: Mapped[str] = mapped_column(sa.ForeignKey("visits.visit_id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(sa.String(24))
    findings: Mapped[str] = mapped_column(sa.Text)
    inspected_on: Mapped[date] = mapped_column(sa.Date)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    publication_due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    published_on: Mapped[date | None] = mapped_column(sa.Date)
