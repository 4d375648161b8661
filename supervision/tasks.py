"""Sampling tasks in the database: inspector roster, tasks, draws, visits, assignments, results and publication.

Each public function does one unit of work on a caller's session (use ``supervision.db.session_scope`` so
that it commits or rolls back as a whole) and raises a typed ``ValueError`` subclass on bad input before
anything is flushed, so nothing is half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import INSPECTION_OUTCOMES, INSPECTIONS
from features.identity import is_valid as id_number_is_valid
from features.identity import person_key as make_person_key
from features.uscc import is_valid as uscc_is_valid
from supervision.assignment import DECLARED_SCHEMA, assign_inspectors
from supervision.calendar import due_date
from supervision.db import Base
from supervision.draw import (
    PublishedHashes,
    TaskParams,
    VerificationReport,
    canonical_roster,
    draw,
    eligible_roster,
    estimate_violation_rate,
    merge_visits,
    new_seed,
    plan_draw,
    publish,
    roster_sha256,
    selection_bytes,
    sha256_hex,
    verify,
)
from supervision.policy import TIERS

__all__ = [
    "PUBLICATION_WORKING_DAYS",
    "AssignmentExclusion",
    "InspectionResult",
    "Inspector",
    "SamplingTask",
    "TaskAssignment",
    "TaskSelection",
    "TaskStateError",
    "UnknownEntityError",
    "UnknownInspectorError",
    "UnknownTaskError",
    "Visit",
    "assign_period",
    "create_task",
    "draw_task",
    "export_frame",
    "import_inspectors",
    "inspection_records",
    "inspector_of",
    "inspectors_frame",
    "last_inspected",
    "list_tasks",
    "mark_published",
    "overdue_report",
    "read_table_file",
    "record_result",
    "selection_frame",
    "set_inspector_active",
    "task_estimates",
    "task_info",
    "task_progress",
    "verify_task",
    "with_last_inspected",
    "write_export",
]

# 企业信息公示暂行条例 art 6: publicised within 20 working days (domain-rules §2.7); configurable per call.
PUBLICATION_WORKING_DAYS = 20
TASK_STATUSES = ("created", "drawn")
VISIT_STATUSES = ("planned", "assigned", "unstaffed", "inspected")


class UnknownTaskError(ValueError):
    """No sampling task (or visit) with that id."""


class UnknownInspectorError(ValueError):
    """No inspector with that id on the roster."""


class UnknownEntityError(ValueError):
    """A USCC that is not on the task's list."""


class TaskStateError(ValueError):
    """The operation does not fit the task's or visit's current status (e.g. drawing twice)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# ------------------------------------------------------------------------------------------------ models
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
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow)


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
    created_at: Mapped[datetime] = mapped_column(default=_utcnow)
    drawn_at: Mapped[datetime | None]


class Visit(Base):
    """One trip to one entity in a period, covering the items of every department's task (进一次门、查多项事)."""

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
    recorded_at: Mapped[datetime] = mapped_column(default=_utcnow)
    publication_due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    published_on: Mapped[date | None] = mapped_column(sa.Date)


# ------------------------------------------------------------------------------------------------ files
def read_table_file(path: Path) -> pl.DataFrame:
    """A CSV (UTF-8, with or without BOM) or XLSX (first sheet, header row) file as strings."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    if suffix in {".xlsx", ".xlsm"}:
        import openpyxl  # imported here: only this path needs it

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            rows = list(book.worksheets[0].iter_rows(values_only=True))
        finally:
            book.close()
        if not rows:
            return pl.DataFrame()
        header = [str(h).strip() for h in rows[0]]
        data = {h: [None if r[i] is None else str(r[i]) for r in rows[1:]] for i, h in enumerate(header)}
        return pl.DataFrame(data, schema=dict.fromkeys(header, pl.String()))
    raise ValueError(f"{path}: unsupported file type {suffix!r}; expected .csv or .xlsx")


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ inspectors
_TRUE = {"true", "1", "yes", "y", "是", "在岗", "active"}
_FALSE = {"false", "0", "no", "n", "否", "离岗", "inactive"}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in re.split(r"[;；]", value or "") if v.strip()]


def import_inspectors(
    session: Session, roster: pl.DataFrame, *, salt: str, allow: Iterable[str] = ()
) -> dict[str, int]:
    """Insert or replace inspectors from a roster frame (all rows checked before anything is written).

    Columns: inspector_id, name, department, division_code, qualifications (';'-separated), active, and
    optionally person_key or id_number (hashed with ``salt``; the raw number is not stored),
    conflict_usccs, conflict_person_keys, conflict_id_numbers (';'-separated). ``allow``: genuine USCCs
    that fail the check character (settings.uscc_allow_list).
    """
    required = ["inspector_id", "name", "department", "division_code", "qualifications", "active"]
    missing = [c for c in required if c not in roster.columns]
    if missing:
        raise ValueError(f"inspector roster: missing columns {missing}; required {required}")
    rows = roster.cast(pl.String).to_dicts()
    seen: set[str] = set()
    parsed: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"inspector roster line {line}"
        iid = (row["inspector_id"] or "").strip()
        if not iid:
            raise ValueError(f"{where}: inspector_id is required")
        if iid in seen:
            raise ValueError(f"{where}: inspector_id {iid!r} appears twice")
        seen.add(iid)
        for col in ("name", "department", "division_code"):
            if not (row[col] or "").strip():
                raise ValueError(f"{where} ({iid}): {col} is required")
        active_text = (row["active"] or "").strip().lower()
        if active_text not in _TRUE | _FALSE:
            raise ValueError(f"{where} ({iid}): active {row['active']!r} is not one of true/false/是/否")
        quals = _split(row["qualifications"])
        if not quals:
            raise ValueError(f"{where} ({iid}): qualifications must list at least one check item")
        key = (row.get("person_key") or "").strip() or None
        number = (row.get("id_number") or "").strip()
        if number:
            if not id_number_is_valid(number):
                raise ValueError(f"{where} ({iid}): id_number fails the GB 11643 check")
            key = make_person_key(number, salt=salt)
        conflicts: list[dict[str, str]] = []
        for u in _split(row.get("conflict_usccs")):
            if not uscc_is_valid(u, allow=allow):
                raise ValueError(f"{where} ({iid}): conflict_usccs {u!r} is not a valid USCC (GB 32100)")
            conflicts.append({"uscc": u})
        conflicts += [{"person_key": k} for k in _split(row.get("conflict_person_keys"))]
        for n in _split(row.get("conflict_id_numbers")):
            if not id_number_is_valid(n):
                raise ValueError(f"{where} ({iid}): a conflict_id_numbers entry fails the GB 11643 check")
            conflicts.append({"person_key": make_person_key(n, salt=salt)})
        parsed.append(
            {
                "inspector_id": iid,
                "name": row["name"].strip(),
                "department": row["department"].strip(),
                "division_code": row["division_code"].strip(),
                "qualifications": quals,
                "active": active_text in _TRUE,
                "person_key": key,
                "declared_conflicts": conflicts,
            }
        )
    created = updated = 0
    for values in parsed:
        existing = session.get(Inspector, values["inspector_id"])
        if existing is None:
            session.add(Inspector(**values, updated_at=_utcnow()))
            created += 1
        else:
            for k, v in values.items():
                setattr(existing, k, v)
            existing.updated_at = _utcnow()
            updated += 1
    session.flush()
    return {"created": created, "updated": updated}


def set_inspector_active(session: Session, inspector_id: str, *, active: bool) -> None:
    """Take an inspector off (or back onto) the roster of those who can be drawn."""
    person = session.get(Inspector, inspector_id)
    if person is None:
        raise UnknownInspectorError(f"no inspector {inspector_id!r} on the roster")
    person.active = active
    person.updated_at = _utcnow()
    session.flush()


def inspectors_frame(session: Session) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(inspectors for the assignment, declared conflicts as inspector_id/uscc/person_key rows)."""
    people = session.scalars(sa.select(Inspector).order_by(Inspector.inspector_id)).all()
    inspectors = pl.DataFrame(
        {
            "inspector_id": [p.inspector_id for p in people],
            "person_key": [p.person_key for p in people],
            "active": [p.active for p in people],
            "qualifications": [list(p.qualifications) for p in people],
            "department": [p.department for p in people],
        },
        schema={
            "inspector_id": pl.String(),
            "person_key": pl.String(),
            "active": pl.Boolean(),
            "qualifications": pl.List(pl.String()),
            "department": pl.String(),
        },
    )
    declared = pl.DataFrame(
        [
            {"inspector_id": p.inspector_id, "uscc": c.get("uscc"), "person_key": c.get("person_key")}
            for p in people
            for c in p.declared_conflicts
        ],
        schema=DECLARED_SCHEMA,
    )
    return inspectors, declared


def inspector_of(session: Session, token_name: str) -> Inspector | None:
    """The roster's inspector an inspector's API token belongs to, or None.

    The link between a token and the roster is the token's name: an inspector's token is issued under their
    ``inspector_id`` (``creditwatch tokens create --role inspector --name I03``). The id, not the person's
    name: names repeat, ids are the roster's key. Inactive inspectors keep the link (they may still record
    the results of visits they were on).
    """
    return session.get(Inspector, token_name.strip())


# ------------------------------------------------------------------------------------------------ tasks
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


def _info(session: Session, task: SamplingTask) -> TaskInfo:
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


def _task(session: Session, task_id: str) -> SamplingTask:
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
        raise ValueError(f"task_id {task_id!r}: use 1–64 letters, digits, '.', '_' or '-'")
    if session.get(SamplingTask, task_id) is not None:
        raise TaskStateError(f"sampling task {task_id!r} already exists")
    snapshot = snapshot_dir / f"{task_id}.roster.parquet"
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
        roster_path=str(snapshot),
        eligible=plan.eligible,
        budget_size=plan.budget,
        status="created",
        created_at=_utcnow(),
    )
    session.add(task)
    session.flush()
    # The snapshot is written last: if the flush failed nothing exists; a snapshot left by a later rollback
    # is inert (no task points at it, and verification checks its hash anyway).
    _atomic_write(snapshot, lambda p: canonical.write_parquet(p, statistics=False))
    return _info(session, task)


def _snapshot(task: SamplingTask) -> pl.DataFrame:
    path = Path(task.roster_path)
    if not path.exists():
        raise FileNotFoundError(f"task {task.task_id}: roster snapshot {path} is missing")
    return pl.read_parquet(path)


def _params(task: SamplingTask) -> TaskParams:
    return TaskParams.from_json(json.loads(task.params_json))


def draw_task(session: Session, task_id: str) -> pl.DataFrame:
    """Draw the task's list from its snapshot, store it with the inclusion probabilities, reveal the seed."""
    task = _task(session, task_id)
    if task.status != "created":
        raise TaskStateError(f"task {task_id} is already {task.status}; a task is drawn once")
    roster = _snapshot(task)
    if roster_sha256(roster) != task.roster_sha256:
        raise TaskStateError(f"task {task_id}: the roster snapshot no longer matches its published hash")
    seed = bytes.fromhex(task.seed_secret)
    selection = draw(roster, params=_params(task), seed=seed)
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
    task.drawn_at = _utcnow()
    task.selection_sha256 = sha256_hex(selection_bytes(selection))
    session.flush()
    return selection


def list_tasks(session: Session, *, period: str | None = None) -> list[TaskInfo]:
    q = sa.select(SamplingTask).order_by(SamplingTask.created_at, SamplingTask.task_id)
    if period is not None:
        q = q.where(SamplingTask.period == period)
    return [_info(session, t) for t in session.scalars(q)]


def task_info(session: Session, task_id: str) -> TaskInfo:
    return _info(session, _task(session, task_id))


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
    _task(session, task_id)
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
    task = _task(session, task_id)
    if task.status != "drawn" or task.revealed_seed is None:
        raise TaskStateError(f"task {task_id} is {task.status}: the seed is revealed only by the draw")
    return verify(
        roster if roster is not None else _snapshot(task),
        params=_params(task),
        seed=bytes.fromhex(task.revealed_seed),
        published=PublishedHashes(task.seed_sha256, task.roster_sha256, task.params_sha256),
        selection=selection_frame(session, task_id).drop("items", "visit_id"),
    )


# ------------------------------------------------------------------------------------------------ visits
@dataclass(frozen=True)
class PeriodAssignment:
    visits: int
    assigned: int
    unstaffed: pl.DataFrame
    exclusions: int


def last_inspected(session: Session) -> pl.DataFrame:
    """(uscc, last_inspected_on) from the recorded results: the frequency limit's input."""
    rows = session.execute(
        sa.select(Visit.uscc, sa.func.max(InspectionResult.inspected_on))
        .join(InspectionResult, InspectionResult.visit_id == Visit.visit_id)
        .group_by(Visit.uscc)
        .order_by(Visit.uscc)
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={"uscc": pl.String(), "last_inspected_on": pl.Date()}, orient="row"
    )


def with_last_inspected(session: Session, roster: pl.DataFrame) -> pl.DataFrame:
    """The roster with ``last_inspected_on`` = the later of its own column (if any) and the recorded results."""
    known = last_inspected(session).rename({"last_inspected_on": "_db_last"})
    out = roster.join(known, on="uscc", how="left")
    if "last_inspected_on" in roster.columns:
        merged = pl.max_horizontal(pl.col("last_inspected_on").cast(pl.Date), pl.col("_db_last"))
    else:
        merged = pl.col("_db_last")
    return out.with_columns(last_inspected_on=merged).drop("_db_last")


def _previous_inspectors(session: Session, usccs: Iterable[str]) -> pl.DataFrame:
    """The inspectors of each entity's latest recorded inspection (they are recused next time)."""
    wanted = sorted(set(usccs))
    rows: list[tuple[str, str, date]] = []
    for chunk_start in range(0, len(wanted), 1000):
        chunk = wanted[chunk_start : chunk_start + 1000]
        rows += session.execute(
            sa.select(Visit.uscc, TaskAssignment.inspector_id, InspectionResult.inspected_on)
            .join(InspectionResult, InspectionResult.visit_id == Visit.visit_id)
            .join(TaskAssignment, TaskAssignment.visit_id == Visit.visit_id)
            .where(Visit.uscc.in_(chunk))
        ).all()
    df = pl.DataFrame(
        rows, schema={"uscc": pl.String(), "inspector_id": pl.String(), "on": pl.Date()}, orient="row"
    )
    return df.filter(pl.col("on") == pl.col("on").max().over("uscc")).select("uscc", "inspector_id")


def assign_period(
    session: Session,
    period: str,
    *,
    links: pl.DataFrame | None = None,
    team_size: int = 2,
    max_visits: int | None = None,
) -> PeriodAssignment:
    """Merge the period's drawn lists into visits (one per entity) and draw the inspectors of new visits.

    ``links``: (uscc, person_key) of each entity's legal representative, shareholders and controllers.
    The inspector draw is seeded from the SHA-256 of the participating tasks' revealed seeds, so anyone
    holding them can re-run it.
    """
    pending = session.scalars(
        sa.select(TaskSelection)
        .join(SamplingTask, SamplingTask.task_id == TaskSelection.task_id)
        .where(SamplingTask.period == period, TaskSelection.visit_id.is_(None))
        .order_by(TaskSelection.uscc, TaskSelection.task_id)
    ).all()
    if not pending:
        raise TaskStateError(f"period {period!r}: no drawn selection waits for a visit")
    tasks = {
        t.task_id: t for t in session.scalars(sa.select(SamplingTask).where(SamplingTask.period == period))
    }
    inspectors, declared = inspectors_frame(session)
    if inspectors.height == 0:
        raise TaskStateError(
            "the inspector roster is empty: import it first (creditwatch sample inspectors import)"
        )
    by_uscc: dict[str, list[TaskSelection]] = {}
    for sel in pending:
        by_uscc.setdefault(sel.uscc, []).append(sel)
    merged = merge_visits(
        pl.DataFrame(
            {
                "task_id": [s.task_id for s in pending],
                "department": [tasks[s.task_id].department for s in pending],
                "uscc": [s.uscc for s in pending],
                "items": [list(s.items) for s in pending],
            },
            schema={
                "task_id": pl.String(),
                "department": pl.String(),
                "uscc": pl.String(),
                "items": pl.List(pl.String()),
            },
        )
    )
    rounds = dict(
        session.execute(
            sa.select(Visit.uscc, sa.func.count()).where(Visit.period == period).group_by(Visit.uscc)
        ).all()
    )
    new_visits: list[Visit] = []
    for uscc, items in merged.select("uscc", "items").iter_rows():
        round_no = int(rounds.get(uscc, 0)) + 1
        new_visits.append(
            Visit(
                visit_id=f"{period}-{uscc}-{round_no}",
                period=period,
                uscc=uscc,
                round=round_no,
                items=list(items),
                status="planned",
                unstaffed_reason=None,
            )
        )
    session.add_all(new_visits)
    session.flush()  # the visits exist before the selections point at them (foreign key)
    for visit in new_visits:
        for sel in by_uscc[visit.uscc]:
            sel.visit_id = visit.visit_id
    session.flush()

    # Qualifications name bare check items; a visit needs every item of every department it covers.
    visits = pl.DataFrame(
        {
            "visit_id": [v.visit_id for v in new_visits],
            "uscc": [v.uscc for v in new_visits],
            "items": [sorted({i.split(": ", 1)[1] for i in v.items}) for v in new_visits],
        },
        schema={"visit_id": pl.String(), "uscc": pl.String(), "items": pl.List(pl.String())},
    )
    seeds = sorted(
        bytes.fromhex(tasks[s.task_id].revealed_seed or "")
        for s in pending  # every pending selection belongs to a drawn task (seed revealed)
    )
    seed = hashlib.sha256(b"".join(sorted(set(seeds)))).digest()
    result = assign_inspectors(
        visits,
        inspectors,
        seed=seed,
        declared=declared,
        links=links,
        previous=_previous_inspectors(session, visits["uscc"].to_list()),
        team_size=team_size,
        max_visits=max_visits,
    )
    if result.assignments.height:
        session.execute(sa.insert(TaskAssignment), result.assignments.to_dicts())
    if result.exclusions.height:
        session.execute(sa.insert(AssignmentExclusion), result.exclusions.to_dicts())
    reasons = dict(result.unstaffed.select("visit_id", "reason").iter_rows())
    for v in new_visits:
        if v.visit_id in reasons:
            v.status, v.unstaffed_reason = "unstaffed", reasons[v.visit_id]
        else:
            v.status = "assigned"
    session.flush()
    return PeriodAssignment(
        visits=len(new_visits),
        assigned=len(new_visits) - len(reasons),
        unstaffed=result.unstaffed,
        exclusions=result.exclusions.height,
    )


# ------------------------------------------------------------------------------------------------ results
def record_result(
    session: Session,
    *,
    task_id: str,
    uscc: str,
    outcome: str,
    inspected_on: date,
    recorded_by: str,
    findings: str = "",
    today: date | None = None,
    publication_working_days: int = PUBLICATION_WORKING_DAYS,
) -> dict[str, Any]:
    """Record what the visit to ``uscc`` (on ``task_id``'s list) found; the publication clock starts."""
    if outcome not in INSPECTION_OUTCOMES:
        raise ValueError(f"outcome {outcome!r}: expected one of {list(INSPECTION_OUTCOMES)}")
    if not recorded_by.strip():
        raise ValueError("recorded_by: the inspector who records the result is required (谁检查、谁录入)")
    today = today or datetime.now(UTC).date()
    if inspected_on > today:
        raise ValueError(
            f"inspected_on {inspected_on.isoformat()} is in the future (today {today.isoformat()})"
        )
    _task(session, task_id)
    sel = session.get(TaskSelection, (task_id, uscc))
    if sel is None:
        raise UnknownEntityError(f"uscc {uscc!r} is not on the list of task {task_id}")
    if sel.visit_id is None:
        raise TaskStateError(
            f"task {task_id}, uscc {uscc}: no visit yet — assign the period's inspectors first"
        )
    visit = session.get(Visit, sel.visit_id)
    assert visit is not None  # foreign key
    if visit.status == "unstaffed":
        raise TaskStateError(f"visit {visit.visit_id} has no inspectors: {visit.unstaffed_reason}")
    if session.get(InspectionResult, visit.visit_id) is not None:
        raise TaskStateError(f"visit {visit.visit_id} already has a result")
    team = set(
        session.scalars(
            sa.select(TaskAssignment.inspector_id).where(TaskAssignment.visit_id == visit.visit_id)
        )
    )
    if recorded_by not in team:
        raise ValueError(
            f"recorded_by {recorded_by!r} is not assigned to visit {visit.visit_id} (team: {sorted(team)})"
        )
    due = due_date(inspected_on, publication_working_days)
    session.add(
        InspectionResult(
            visit_id=visit.visit_id,
            outcome=outcome,
            findings=findings,
            inspected_on=inspected_on,
            recorded_by=recorded_by,
            recorded_at=_utcnow(),
            publication_due_on=due,
            published_on=None,
        )
    )
    visit.status = "inspected"
    session.flush()
    return {"visit_id": visit.visit_id, "outcome": outcome, "publication_due_on": due}


def mark_published(session: Session, visit_id: str, *, published_on: date) -> None:
    result = session.get(InspectionResult, visit_id)
    if result is None:
        raise UnknownTaskError(f"visit {visit_id!r} has no recorded result")
    if published_on < result.inspected_on:
        raise ValueError(f"published_on {published_on} is before the inspection ({result.inspected_on})")
    result.published_on = published_on
    session.flush()


def overdue_report(session: Session, *, today: date) -> list[dict[str, Any]]:
    """Per department: results recorded, published, unpublished and overdue (past the working-day deadline)."""
    rows = session.execute(
        sa.select(SamplingTask.department, InspectionResult.publication_due_on, InspectionResult.published_on)
        .join(TaskSelection, TaskSelection.task_id == SamplingTask.task_id)
        .join(InspectionResult, InspectionResult.visit_id == TaskSelection.visit_id)
    ).all()
    report: dict[str, dict[str, Any]] = {}
    for department, due, published in rows:
        r = report.setdefault(
            department,
            {"department": department, "results": 0, "published": 0, "unpublished": 0, "overdue": 0},
        )
        r["results"] += 1
        if published is not None:
            r["published"] += 1
        else:
            r["unpublished"] += 1
            r["overdue"] += int(due < today)
    return [report[d] for d in sorted(report)]


def inspection_records(session: Session, *, task_id: str | None = None) -> pl.DataFrame:
    """Results as rows of the catalog's ``inspections`` table (one per task and visit), for training."""
    q = (
        sa.select(
            TaskSelection.task_id,
            TaskSelection.uscc,
            TaskSelection.items,
            TaskSelection.inclusion_probability,
            TaskSelection.in_control_slice,
            SamplingTask.department,
            InspectionResult,
        )
        .join(SamplingTask, SamplingTask.task_id == TaskSelection.task_id)
        .join(InspectionResult, InspectionResult.visit_id == TaskSelection.visit_id)
        .order_by(TaskSelection.task_id, TaskSelection.uscc)
    )
    if task_id is not None:
        q = q.where(TaskSelection.task_id == task_id)
    rows = session.execute(q).all()
    teams = _teams(session, [r[6].visit_id for r in rows])
    return pl.DataFrame(
        [
            {
                "inspection_id": f"{res.visit_id}/{tid}",
                "task_id": tid,
                "uscc": uscc,
                "department": dept,
                "check_items": ";".join(items),
                "inspected_on": res.inspected_on,
                "inspectors": ";".join(teams.get(res.visit_id, [])),
                "outcome": res.outcome,
                "findings": res.findings,
                "selection_probability": prob,
                "in_control_slice": ctrl,
            }
            for tid, uscc, items, prob, ctrl, dept, res in rows
        ],
        schema=INSPECTIONS.schema,
    )


def _teams(session: Session, visit_ids: Sequence[str]) -> dict[str, list[str]]:
    teams: dict[str, list[str]] = {}
    ids = sorted(set(visit_ids))
    for start in range(0, len(ids), 1000):
        for v, i in session.execute(
            sa.select(TaskAssignment.visit_id, TaskAssignment.inspector_id)
            .where(TaskAssignment.visit_id.in_(ids[start : start + 1000]))
            .order_by(TaskAssignment.visit_id, TaskAssignment.inspector_id)
        ):
            teams.setdefault(v, []).append(i)
    return teams


def task_estimates(session: Session, task_id: str, *, population: pl.DataFrame | None = None) -> pl.DataFrame:
    """HT violation-rate estimates of a task's eligible population from its recorded results.

    ``population`` may carry ``probability`` (the model's predicted rate); by default the task's snapshot.
    """
    task = _task(session, task_id)
    params = _params(task)
    eligible = eligible_roster(canonical_roster(_snapshot(task)), params=params).select("uscc", "tier")
    if population is not None and "probability" in population.columns:
        eligible = eligible.join(population.select("uscc", "probability"), on="uscc", how="left")
    # Every selected entity, with its outcome where one is recorded (null = not yet inspected).
    sample = selection_frame(session, task_id).join(
        inspection_records(session, task_id=task_id).select("uscc", "outcome"), on="uscc", how="left"
    )
    return estimate_violation_rate(
        eligible, sample.select("uscc", "tier", "inclusion_probability", "outcome")
    )


# ------------------------------------------------------------------------------------------------ exports
EXPORT_COLUMNS = (
    "task_id",
    "visit_id",
    "uscc",
    "tier",
    "reasons",
    "inclusion_probability",
    "in_control_slice",
    "items",
    "inspectors",
    "visit_status",
    "outcome",
    "inspected_on",
    "publication_due_on",
    "published_on",
)


def export_frame(session: Session, task_id: str, *, reasons: pl.DataFrame | None = None) -> pl.DataFrame:
    """What inspectors take out: the list with tier, top reasons (from ``reasons``: uscc, reasons), team, items."""
    sel = selection_frame(session, task_id)
    visit_ids = [v for v in sel["visit_id"].to_list() if v is not None]
    teams = _teams(session, visit_ids)
    visits: dict[str, Visit] = {}
    results: dict[str, InspectionResult] = {}
    for start in range(0, len(visit_ids), 1000):  # bounded IN lists (SQLite's variable limit)
        chunk = visit_ids[start : start + 1000]
        visits.update(
            (v.visit_id, v) for v in session.scalars(sa.select(Visit).where(Visit.visit_id.in_(chunk)))
        )
        results.update(
            (r.visit_id, r)
            for r in session.scalars(sa.select(InspectionResult).where(InspectionResult.visit_id.in_(chunk)))
        )
    rows = []
    for r in sel.iter_rows(named=True):
        vid = r["visit_id"]
        visit = visits.get(vid) if vid else None
        res = results.get(vid) if vid else None
        rows.append(
            {
                "task_id": task_id,
                "visit_id": vid,
                "uscc": r["uscc"],
                "tier": r["tier"],
                "inclusion_probability": r["inclusion_probability"],
                "in_control_slice": r["in_control_slice"],
                "items": "; ".join(visit.items if visit else r["items"]),
                "inspectors": "; ".join(teams.get(vid, [])) if vid else "",
                "visit_status": visit.status if visit else "not planned",
                "outcome": res.outcome if res else None,
                "inspected_on": res.inspected_on if res else None,
                "publication_due_on": res.publication_due_on if res else None,
                "published_on": res.published_on if res else None,
            }
        )
    out = pl.DataFrame(
        rows,
        schema={
            "task_id": pl.String(),
            "visit_id": pl.String(),
            "uscc": pl.String(),
            "tier": pl.String(),
            "inclusion_probability": pl.Float64(),
            "in_control_slice": pl.Boolean(),
            "items": pl.String(),
            "inspectors": pl.String(),
            "visit_status": pl.String(),
            "outcome": pl.String(),
            "inspected_on": pl.Date(),
            "publication_due_on": pl.Date(),
            "published_on": pl.Date(),
        },
    )
    if reasons is not None and "reasons" in reasons.columns:
        text = reasons.select("uscc", reasons=_reasons_text(reasons.schema["reasons"]))
        out = out.join(text.unique("uscc", keep="first"), on="uscc", how="left")
    else:
        out = out.with_columns(reasons=pl.lit(None, pl.String()))
    return out.select(EXPORT_COLUMNS)


def _reasons_text(dtype: pl.DataType) -> pl.Expr:
    """The reasons as one line of text: plain strings, lists of strings, or the scorer's list of
    {feature, dimension, value, contribution, zh, en} structs (the Chinese sentence is what inspectors read)."""
    column = pl.col("reasons")
    if not isinstance(dtype, pl.List):
        return column.cast(pl.String)
    if isinstance(dtype.inner, pl.Struct):
        column = column.list.eval(pl.element().struct.field("zh"))
    return column.list.join("；")


# Column headings of the export for people (Chinese first, as inspectors read it).
EXPORT_HEADINGS: Mapping[str, str] = {
    "task_id": "任务编号 task",
    "visit_id": "检查编号 visit",
    "uscc": "统一社会信用代码 USCC",
    "tier": "信用风险分类 tier",
    "reasons": "主要原因 reasons",
    "inclusion_probability": "入样概率 inclusion probability",
    "in_control_slice": "随机对照 control slice",
    "items": "检查事项 items",
    "inspectors": "执法检查人员 inspectors",
    "visit_status": "状态 status",
    "outcome": "检查结果 outcome",
    "inspected_on": "检查日期 inspected on",
    "publication_due_on": "公示期限 publication due",
    "published_on": "公示日期 published on",
}


def write_export(frame: pl.DataFrame, path: Path) -> Path:
    """CSV (UTF-8 with BOM, so spreadsheet software shows Chinese) or XLSX, written atomically."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data = "\ufeff" + frame.write_csv(line_terminator="\n", date_format="%Y-%m-%d")
        _atomic_write(path, lambda p: p.write_text(data, encoding="utf-8"))
    elif suffix == ".xlsx":
        import openpyxl  # imported here: only this path needs it

        def _write(p: Path) -> None:
            book = openpyxl.Workbook()
            sheet = book.active
            assert sheet is not None
            sheet.title = "抽查名单"
            sheet.append([EXPORT_HEADINGS.get(c, c) for c in frame.columns])
            for row in frame.iter_rows():
                sheet.append(list(row))
            sheet.freeze_panes = "A2"
            book.save(p)

        _atomic_write(path, _write)
    else:
        raise ValueError(f"{path}: unsupported export type {suffix!r}; expected .csv or .xlsx")
    return path
