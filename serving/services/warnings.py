"""Early warning (信用风险预警): run the rules between two score runs, list, acknowledge and close warnings.

``run`` compares the newest valid score run on or before `as_of` with the valid run before it (files read
only through :mod:`serving.services.current_score`, so a refused file is never used), over the window
(previous as_of, current as_of], with the record lake and the department's own decisions; it keeps each new
warning once per (run, entity, rule) and puts it in the outbox webhook subscribers receive. A department
reads its own warnings (supervisors and inspectors); only a supervisor of the warning's department
acknowledges or closes one, closing with a note.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from features.lifecycle import lifecycle_sources
from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.lifecycle_types import own_department, read_day
from serving.workspace import manifest_of
from supervision.monitoring import warnings
from supervision.platform.access import Role

__all__ = [
    "PAGE_MAX",
    "RULE_NAMES",
    "RuleName",
    "RunResult",
    "WarningPage",
    "WarningView",
    "acknowledge",
    "close",
    "list_warnings",
    "run",
]

RUNNERS = (Role.ANALYST, Role.SUPERVISOR)
READERS = (Role.SUPERVISOR, Role.INSPECTOR)
HANDLERS = (Role.SUPERVISOR,)
PAGE_MAX = 200
OWN_WARNINGS = (
    "a department reads and handles the warnings of its own entities (属地监管, warnings.toml [departments])"
)
# The rules' names in the supervisors' languages (the pages and the API's answers say both).
RULE_NAMES: dict[str, tuple[str, str]] = {
    "probability_rise": ("违规概率显著上升", "probability of a violation rose"),
    "tier_up": ("风险等级升至较高/高", "tier moved up into C/D"),
    "serious_penalty": ("新增严重行政处罚", "new serious penalty"),
    "abnormal_listing": ("新列入经营异常名录", "new abnormal-operations listing"),
    "court_judgment": ("新列入失信被执行人名单", "new court dishonest-debtor entry"),
    "severe_link": ("新增与严重失信主体的关联", "new link to a severely dishonest party"),
    "commitment_breach": ("信用承诺违约", "credit commitment breached"),
}
RuleName = Literal[
    "probability_rise",
    "tier_up",
    "serious_penalty",
    "abnormal_listing",
    "court_judgment",
    "severe_link",
    "commitment_breach",
]
Status = Literal["open", "acknowledged", "closed"]


class RunResult(BaseModel):
    """What a run found: the two score runs compared, the warnings by rule, and how many were new."""

    model_config = ConfigDict(frozen=True)

    run_as_of: date = Field(
        description="the current score run (newest valid on or before as_of); the record rules' window is "
        "(previous_as_of, run_as_of]"
    )
    previous_as_of: date = Field(description="the valid score run before it")
    found: dict[str, int] = Field(description="warnings that fire, by rule")
    new: dict[str, int] = Field(description="warnings kept by this run, by rule (0 when re-run)")
    total_new: int


class WarningView(BaseModel):
    """One warning: its rule (zh/en), evidence (record ids, probabilities, the linked party's USCC — never a
    person), the department that receives it and its handling."""

    model_config = ConfigDict(frozen=True)

    id: int
    run_as_of: date
    previous_as_of: date
    uscc: str
    rule: RuleName
    rule_zh: str
    rule_en: str
    evidence: dict[str, Any]
    department: str
    status: Status
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, row: warnings.Warning) -> WarningView:
        zh, en = RULE_NAMES[row.rule]
        return cls.model_validate({**row.as_dict(), "rule_zh": zh, "rule_en": en})


class WarningPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    total: int
    offset: int
    limit: int
    items: list[WarningView]


def _target(warning_id: int) -> str:
    return f"warning:{warning_id}"


def _valid_runs(ctx: Context, on: date) -> list[tuple[date, pl.DataFrame]]:
    """The two newest valid score runs dated on or before `on`, newest first (refused files skipped)."""
    files = current_score.score_files(ctx.settings.home)
    manifested = [day for day, path in files if manifest_of(path).exists()]
    first = min(manifested) if manifested else None
    out: list[tuple[date, pl.DataFrame]] = []
    for day, path in reversed(files):
        if day > on:
            continue
        try:
            frame, _ = current_score.check_score_file(
                day, path, manifest_required=first is not None and day >= first
            )
        except current_score.RefusedFile:
            continue  # a refused run is never compared (current_score logs it where it serves)
        out.append((day, frame))
        if len(out) == 2:
            break
    return out


@use_case("warnings.run", roles=RUNNERS, local=True)
def run(ctx: Context, *, as_of: date | None = None) -> RunResult:
    """Evaluate the rules between the newest valid run on or before `as_of` and the one before it; keep the
    new warnings (a re-run adds nothing) and put them in the outbox."""
    on = read_day(ctx, as_of, field="as_of")
    runs = _valid_runs(ctx, on)
    if len(runs) < 2:
        raise warnings.WarningError(
            f"as_of {on.isoformat()}: early warning compares two valid score runs dated on or before it; "
            f"found {len(runs)} (run `creditwatch score` each month)",
            field="as_of",
        )
    (current_day, current), (previous_day, previous) = runs
    policy = warnings.load_policy()
    # Records as the features see them on the current run's day (revoked, repaired: gone), with the
    # department's own decisions that may not be in the lake.
    seen = lifecycle_sources(ctx.sources(), as_of=current_day + timedelta(days=1))
    sources = warnings.with_decisions(seen, ctx.session)
    found = warnings.evaluate(previous, current, sources, (previous_day, current_day), policy)
    new = warnings.record(
        ctx.session, found, run_as_of=current_day, previous_as_of=previous_day, actor=ctx.lifecycle_actor
    )
    by_rule = {r: 0 for r in warnings.RULES} | dict(Counter(found["rule"].to_list()))
    new_by_rule = {r: 0 for r in warnings.RULES} | dict(Counter(w.rule for w in new))
    ctx.audit(
        "warnings.run",
        target=f"warnings:{current_day.isoformat()}",
        details={"previous": previous_day, "found": by_rule, "new": len(new)},
    )
    return RunResult(
        run_as_of=current_day,
        previous_as_of=previous_day,
        found=by_rule,
        new=new_by_rule,
        total_new=len(new),
    )


@use_case("warnings.list", roles=READERS)
def list_warnings(
    ctx: Context,
    *,
    status: str | None = None,
    rule: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> WarningPage:
    """The actor's department's warnings, newest run first, filtered by status and rule, paged (≤ 200)."""
    department = ctx.department()
    if status is not None and status not in warnings.STATUSES:
        raise warnings.WarningError(
            f"status {status!r}: one of {', '.join(warnings.STATUSES)}", field="status"
        )
    if rule is not None and rule not in warnings.RULES:
        raise warnings.WarningError(f"rule {rule!r}: one of {', '.join(warnings.RULES)}", field="rule")
    if not 1 <= limit <= PAGE_MAX:
        raise warnings.WarningError(f"limit {limit}: 1 to {PAGE_MAX}", field="limit")
    if offset < 0:
        raise warnings.WarningError(f"offset {offset}: 0 or more", field="offset")
    W = warnings.Warning
    where = [W.department == department]
    if status is not None:
        where.append(W.status == status)
    if rule is not None:
        where.append(W.rule == rule)
    total = ctx.session.scalar(sa.select(sa.func.count()).select_from(W).where(*where)) or 0
    rows = ctx.session.scalars(
        sa.select(W)
        .where(*where)
        .order_by(W.run_as_of.desc(), W.uscc, W.rule, W.id)
        .offset(offset)
        .limit(limit)
    ).all()
    ctx.audit(
        "warnings.list",
        target="warnings",
        details={"status": status, "rule": rule, "offset": offset, "rows": len(rows)},
        read=True,
    )
    return WarningPage(
        department=department,
        total=total,
        offset=offset,
        limit=limit,
        items=[WarningView.of(r) for r in rows],
    )


def _own(ctx: Context, warning_id: int, act: str) -> None:
    row = warnings.get(ctx.session, warning_id)
    own_department(ctx, row.department, what=f"warning {warning_id}", act=act, rule=OWN_WARNINGS)


@use_case("warnings.acknowledge", roles=HANDLERS, target="warning:{warning_id}")
def acknowledge(ctx: Context, warning_id: int) -> WarningView:
    """The department has seen the warning (open → acknowledged)."""
    _own(ctx, warning_id, "acknowledge")
    row = warnings.acknowledge(ctx.session, warning_id, actor=ctx.lifecycle_actor)
    ctx.audit("warnings.acknowledge", target=_target(warning_id))
    return WarningView.of(row)


@use_case("warnings.close", roles=HANDLERS, target="warning:{warning_id}")
def close(ctx: Context, warning_id: int, *, note: str) -> WarningView:
    """Close the warning with a note saying what was done (required, at most 2000 characters)."""
    _own(ctx, warning_id, "close")
    row = warnings.close(ctx.session, warning_id, actor=ctx.lifecycle_actor, note=note)
    ctx.audit("warnings.close", target=_target(warning_id), details={"note_chars": len(row.note or "")})
    return WarningView.of(row)
