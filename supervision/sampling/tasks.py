"""Sampling tasks: create (publish the hashes), draw (reveal the seed), list, progress, verify a draw."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from features.lake import atomic_write
from supervision.sampling.draw import (
    PublishedHashes,
    TaskParams,
    VerificationReport,
    canonical_roster,
    draw,
    eligible_roster,
    new_seed,
    plan_draw,
    publish,
    roster_sha256,
    selection_bytes,
    sha256_hex,
    tier_counts,
    verify,
)
from supervision.sampling.errors import SamplingInputError, TaskStateError, UnknownTaskError
from supervision.sampling.ratios import TIERS
from supervision.sampling.tables import InspectionResult, SamplingTask, TaskAssignment, TaskSelection, utcnow

__all__ = [
    "TaskInfo",
    "TierShare",
    "create_task",
    "draw_task",
    "get_task",
    "info",
    "list_tasks",
    "selection_frame",
    "snapshot",
    "task_info",
    "task_params",
    "task_progress",
    "tier_shares",
    "verify_task",
]


@dataclass(frozen=True)
class TaskInfo:
    task_id: str
    status: str
    department: str
    period: str
    eligible: int
    budget: int
    published: PublishedHashes
    revealed_seed: str | None
    selected: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "status": self.status,
            "department": self.department,
            "period": self.period,
            "eligible": self.eligible,
            "budget": self.budget,
            "seed_sha256": self.published.seed_sha256,
            "roster_sha256": self.published.roster_sha256,
            "params_sha256": self.published.params_sha256,
            "revealed_seed": self.revealed_seed,
            "selected": self.selected,
        }


def info(session: Session, task: SamplingTask) -> TaskInfo:
    """What is published about a task (its hashes; the seed once drawn) and the size of its list."""
    selected = None
    if task.status == "drawn":
        selected = session.scalar(
            sa.select(sa.func.count()).select_from(TaskSelection).where(TaskSelection.task_id == task.task_id)
        )
    return TaskInfo(
        task_id=task.task_id,
        status=task.status,
        department=task.department,
        period=task.period,
        eligible=task.eligible,
        budget=task.budget_size,
        published=PublishedHashes(task.seed_sha256, task.roster_sha256, task.params_sha256),
        revealed_seed=task.revealed_seed,
        selected=selected,
    )


def get_task(session: Session, task_id: str) -> SamplingTask:
    """The task, or :class:`UnknownTaskError`."""
    task = session.get(SamplingTask, task_id)
    if task is None:
        raise UnknownTaskError(f"no sampling task {task_id!r}")
    return task


def create_task(
    session: Session,
    *,
    params: TaskParams,
    roster: pl.DataFrame | pl.LazyFrame,
    snapshot_dir: Path,
    task_id: str | None = None,
    seed: bytes | None = None,
) -> TaskInfo:
    """Create a task: check that the draw is feasible, snapshot the roster, keep the seed, publish hashes."""
    canonical = canonical_roster(roster)
    eligible = eligible_roster(canonical, params=params)
    counts = eligible.group_by("tier").len()
    plan = plan_draw(dict(zip(counts["tier"].to_list(), counts["len"].to_list(), strict=True)), params=params)
    seed = seed if seed is not None else new_seed()
    hashes = publish(canonical, params=params, seed=seed)
    task_id = task_id or f"T{params.as_of:%Y%m%d}-{uuid.uuid4().hex[:10]}"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", task_id):
        raise SamplingInputError(
            f"task_id {task_id!r}: use 1–64 letters, digits, '.', '_' or '-'", field="task_id"
        )
    # The period names the visits of its tasks (`PERIOD-USCC-ROUND`), so it is held to the same alphabet.
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", params.period):
        raise SamplingInputError(
            f"period {params.period!r}: use 1–32 letters, digits, '.', '_' or '-'", field="period"
        )
    if session.get(SamplingTask, task_id) is not None:
        raise TaskStateError(f"sampling task {task_id!r} already exists")
    snapshot_path = snapshot_dir / f"{task_id}.roster.parquet"
    task = SamplingTask(
        task_id=task_id,
        department=params.department,
        period=params.period,
        as_of=params.as_of,
        scope=params.scope.to_json(),
        items=list(params.items),
        budget=params.budget.to_json(),
        policy=params.policy.to_json(),
        params_json=params.canonical_bytes().decode(),
        seed_sha256=hashes.seed_sha256,
        roster_sha256=hashes.roster_sha256,
        params_sha256=hashes.params_sha256,
        seed_secret=seed.hex(),
        revealed_seed=None,
        roster_path=str(snapshot_path),
        eligible=plan.eligible,
        budget_size=plan.budget,
        status="created",
        created_at=utcnow(),
    )
    session.add(task)
    session.flush()
    # The snapshot is written last: if the flush failed nothing exists; a snapshot left by a later rollback
    # is inert (no task points at it, and verification checks its hash anyway).
    atomic_write(snapshot_path, lambda p: canonical.write_parquet(p, statistics=False))
    return info(session, task)


def snapshot(task: SamplingTask) -> pl.DataFrame:
    """The roster the task was created from (``HOME/sampling/TASK.roster.parquet``)."""
    path = Path(task.roster_path)
    if not path.exists():
        raise TaskStateError(
            f"task {task.task_id}: roster snapshot {path.name} is missing from the workspace"
        )
    return pl.read_parquet(path)


def task_params(task: SamplingTask) -> TaskParams:
    return TaskParams.from_json(json.loads(task.params_json))


def draw_task(session: Session, task_id: str) -> pl.DataFrame:
    """Draw the task's list from its snapshot, store it with the inclusion probabilities, reveal the seed."""
    task = get_task(session, task_id)
    if task.status != "created":
        raise TaskStateError(f"task {task_id} is already {task.status}; a task is drawn once")
    roster = snapshot(task)
    if roster_sha256(roster) != task.roster_sha256:
        raise TaskStateError(f"task {task_id}: the roster snapshot no longer matches its published hash")
    seed = bytes.fromhex(task.seed_secret)
    selection = draw(roster, params=task_params(task), seed=seed)
    items = list(task.items)
    # Bulk INSERT (executemany): tens of thousands of rows without building ORM objects.
    session.execute(
        sa.insert(TaskSelection),
        [
            {
                "task_id": task_id,
                "uscc": row["uscc"],
                "tier": row["tier"],
                "inclusion_probability": row["inclusion_probability"],
                "in_control_slice": row["in_control_slice"],
                "items": items,
                "visit_id": None,
            }
            for row in selection.iter_rows(named=True)
        ],
    )
    task.status = "drawn"
    task.revealed_seed = seed.hex()
    task.drawn_at = utcnow()
    task.selection_sha256 = sha256_hex(selection_bytes(selection))
    session.flush()
    return selection


def list_tasks(
    session: Session, *, period: str | None = None, department: str | None = None
) -> list[TaskInfo]:
    """Tasks, oldest first: all, or those of a period and/or a department."""
    q = sa.select(SamplingTask).order_by(SamplingTask.created_at, SamplingTask.task_id)
    if period is not None:
        q = q.where(SamplingTask.period == period)
    if department is not None:
        q = q.where(SamplingTask.department == department)
    return [info(session, t) for t in session.scalars(q)]


def task_info(session: Session, task_id: str) -> TaskInfo:
    return info(session, get_task(session, task_id))


def task_progress(session: Session, *, inspector_id: str | None = None) -> dict[str, tuple[int, int]]:
    """Per drawn task: (results recorded, entities on the list) — of the whole list, or, with
    ``inspector_id``, of the entities whose visit that inspector is on the team of (their "my tasks")."""
    q = (
        sa.select(TaskSelection.task_id, sa.func.count(InspectionResult.visit_id), sa.func.count())
        .select_from(TaskSelection)
        .outerjoin(InspectionResult, InspectionResult.visit_id == TaskSelection.visit_id)
        .group_by(TaskSelection.task_id)
        .order_by(TaskSelection.task_id)
    )
    if inspector_id is not None:
        q = q.join(TaskAssignment, TaskAssignment.visit_id == TaskSelection.visit_id).where(
            TaskAssignment.inspector_id == inspector_id
        )
    return {task_id: (int(done), int(total)) for task_id, done, total in session.execute(q)}


def selection_frame(session: Session, task_id: str) -> pl.DataFrame:
    """The stored list of a drawn task, in the draw's schema plus items and visit_id."""
    get_task(session, task_id)
    rows = session.scalars(
        sa.select(TaskSelection).where(TaskSelection.task_id == task_id).order_by(TaskSelection.uscc)
    ).all()
    return pl.DataFrame(
        {
            "uscc": [r.uscc for r in rows],
            "tier": [r.tier for r in rows],
            "inclusion_probability": [r.inclusion_probability for r in rows],
            "in_control_slice": [r.in_control_slice for r in rows],
            "items": [list(r.items) for r in rows],
            "visit_id": [r.visit_id for r in rows],
        },
        schema={
            "uscc": pl.String(),
            "tier": pl.String(),
            "inclusion_probability": pl.Float64(),
            "in_control_slice": pl.Boolean(),
            "items": pl.List(pl.String()),
            "visit_id": pl.String(),
        },
    )


def verify_task(session: Session, task_id: str, *, roster: pl.DataFrame | None = None) -> VerificationReport:
    """Re-run a drawn task from its published inputs (its snapshot, or ``roster``) and the revealed seed."""
    task = get_task(session, task_id)
    if task.status != "drawn" or task.revealed_seed is None:
        raise TaskStateError(f"task {task_id} is {task.status}: the seed is revealed only by the draw")
    return verify(
        roster if roster is not None else snapshot(task),
        params=task_params(task),
        seed=bytes.fromhex(task.revealed_seed),
        published=PublishedHashes(task.seed_sha256, task.roster_sha256, task.params_sha256),
        selection=selection_frame(session, task_id).drop("items", "visit_id"),
    )


@dataclass(frozen=True)
class TierShare:
    """One tier of a task: what its policy configured beside what the task actually gave the tier.

    ``ratio`` (within ``range_low``–``range_high``) is the configured relative intensity, not a probability:
    the budget is spread in proportion to ratio × tier size, so the ``actual_inclusion`` of a tier
    (``selected / eligible``, once drawn) and its exact design probability ``inclusion_probability`` (π of
    every eligible entity of the tier, before the draw) are what an entity of the tier really faced.
    ``in_scope`` counts the tier's entities in the task's scope, ``eligible`` those of them not resting
    (``rest_days`` after their last inspection).
    """

    tier: str
    ratio: float
    range_low: float
    range_high: float
    rest_days: int
    in_scope: int
    eligible: int
    inclusion_probability: float
    selected: int | None
    control: int | None
    actual_inclusion: float | None

    @property
    def rested(self) -> int:
        return self.in_scope - self.eligible


@lru_cache(maxsize=64)
def _counts(roster_path: str, roster_hash: str, params_json: str) -> tuple[tuple[str, int, int], ...]:
    # Keyed by the published hashes too: a snapshot is immutable once its task is created.
    del roster_hash
    params = TaskParams.from_json(json.loads(params_json))
    counts = tier_counts(canonical_roster(pl.read_parquet(roster_path)), params=params)
    return tuple((t, *counts[t]) for t in TIERS)


def tier_shares(session: Session, task: SamplingTask) -> tuple[TierShare, ...]:
    """Per tier A..D: the configured ratio, range and rest period of the task's policy beside the tier's
    eligible entities, its exact inclusion probability and — once drawn — selected / eligible. Counted from
    the task's roster snapshot (the published one); empty when the snapshot is missing from the workspace."""
    if not Path(task.roster_path).exists():
        return ()
    params = task_params(task)
    counts = {t: (a, b) for t, a, b in _counts(task.roster_path, task.roster_sha256, task.params_json)}
    plan = plan_draw({t: counts[t][1] for t in TIERS}, params=params)
    drawn: dict[str, tuple[int, int]] = {}
    if task.status == "drawn":
        q = (
            sa.select(
                TaskSelection.tier,
                sa.func.count(),
                sa.func.sum(sa.case((TaskSelection.in_control_slice, 1), else_=0)),
            )
            .where(TaskSelection.task_id == task.task_id)
            .group_by(TaskSelection.tier)
        )
        drawn = {tier: (int(n), int(c or 0)) for tier, n, c in session.execute(q)}
    policy = params.policy
    out = []
    for t in TIERS:
        in_scope, eligible = counts[t]
        selected, control = drawn.get(t, (0, 0)) if task.status == "drawn" else (None, None)
        out.append(
            TierShare(
                tier=t,
                ratio=float(policy.ratios[t]),
                range_low=float(policy.ranges[t][0]),
                range_high=float(policy.ranges[t][1]),
                rest_days=int(policy.rest_days[t]),
                in_scope=in_scope,
                eligible=eligible,
                inclusion_probability=float(plan.inclusion[t]),
                selected=selected,
                control=control,
                actual_inclusion=selected / eligible if selected is not None and eligible else None,
            )
        )
    return tuple(out)
