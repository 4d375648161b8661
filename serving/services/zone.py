"""The regulated entity's credit service zone (信用服务专区): what the entity sees of itself, in one read.

``zone.record`` gives the signed-in entity (its token bound to one USCC) its registration, its public credit
record (the lake's records about it in the tables the catalog marks ``public`` or ``subject``, each with its
legal state and the end of its publicity), its list cases with their deadlines, the prior notices waiting
for its statement (陈述申辩), its commitments (ingested or made here), its objections and repair applications
with their clocks in working days, and the commitment templates it may use. What it does (object, commit,
answer a notice, download its report) goes through the staff's own use cases, which admit the entity for its
own USCC (:func:`serving.services.context.own_entity`).

It never contains a risk probability, tier, score or SHAP reason: SAMR keeps risk classification for internal
reference and does not publish it (国市监信发〔2022〕6号 as summarised in domain-rules §3.4; Shandong's
"不评价、不惩戒、不公开、不免抽"). ``tests/serving/test_zone.py`` walks every entity route for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from features.catalog import BY_NAME, RECORD_TABLES, TABLES, Table
from features.lifecycle import objection_state, repair_state
from serving.services.context import Context, own_entity, use_case
from supervision.lifecycle import commitments, lists, objections, repairs
from supervision.lifecycle.disclosure import market_supervision, publicity_end
from supervision.lifecycle.regimes import Policy
from supervision.platform.access import STAFF_ROLES, ApiToken, Role
from supervision.platform.calendar import working_days_between
from supervision.platform.errors import DomainError, NotFoundError
from supervision.platform.masking import mask_record

__all__ = [
    "ENTITY",
    "RISK_INTERNAL",
    "DeadlineClock",
    "PriorNotice",
    "Registration",
    "ZoneCommitment",
    "ZoneField",
    "ZoneListCase",
    "ZoneObjection",
    "ZoneRecord",
    "ZoneRepair",
    "ZoneTemplate",
    "ZoneView",
    "department_of",
    "known_departments",
    "open_record",
    "record",
]

ENTITY = (Role.ENTITY,)
RISK_INTERNAL = (
    "risk classification (probability, tier, score, reasons) is an internal reference and is not published "
    "(SAMR 国市监信发〔2022〕6号, domain-rules §3.4; Shandong 2020: 不评价、不惩戒、不公开、不免抽)"
)
OPEN = ("public", "subject")
# The column of a record table naming the department that produced the record: it handles objections to it
# (谁产生、谁负责). Tables without one (commitments, self-reports) have no producing department in the lake.
PRODUCER_COLUMNS = ("authority", "department")
AUDIENCE = Role.ENTITY.value

Scalar = str | float | int | bool | None


class DeadlineClock(BaseModel):
    """A deadline and where today stands against it, in working days (official calendar)."""

    model_config = ConfigDict(frozen=True)

    due: date | None = Field(description="the deadline now running (None: nothing is due)")
    working_days_left: int | None = Field(description="working days from today to the deadline (≥ 0)")
    working_days_late: int | None = Field(description="working days past the deadline (> 0 when late)")

    @classmethod
    def of(cls, due: date | None, today: date) -> DeadlineClock:
        if due is None:
            return cls(due=None, working_days_left=None, working_days_late=None)
        if due >= today:
            return cls(due=due, working_days_left=working_days_between(today, due), working_days_late=None)
        return cls(due=due, working_days_left=None, working_days_late=working_days_between(due, today))


class Registration(BaseModel):
    """The entity's registration (市场主体登记信息) as the lake holds it."""

    model_config = ConfigDict(frozen=True)

    uscc: str
    name: str
    entity_type: str
    industry: str
    division_code: str
    registered_capital: float | None
    established_on: date
    closed_on: date | None
    status: str
    address: str | None
    phone: str | None


class ZoneField(BaseModel):
    """One column of a record, with its catalog labels."""

    model_config = ConfigDict(frozen=True)

    name: str
    zh: str
    en: str
    value: Scalar


class ZoneRecord(BaseModel):
    """One record of the entity's credit record, with its legal state and publicity end."""

    model_config = ConfigDict(frozen=True)

    record_table: str
    table_zh: str
    table_en: str
    openness: Literal["public", "subject"] = Field(
        description="`public`: published (双公示, lists, commitments); `subject`: shown to the entity only"
    )
    record_id: str
    event_date: date | None
    department: str | None = Field(description="the department that produced it (handles objections to it)")
    fields: list[ZoneField]
    state: Literal["in_force", "under_objection", "corrected", "revoked", "repaired"] = Field(
        description="the record's legal state today: an upheld objection revoked or corrected it, an "
        "approved repair repaired it, or an objection is pending (异议处理中)"
    )
    repaired_on: date | None
    publicity_end: date | None = Field(
        description="the day its publicity ends (penalties: 公示截止期 or the policy's period; list entries: "
        "the planned end; other 双公示 kinds: the policy's period); None: no end is set"
    )
    publicly_shown: bool = Field(description="open to the public today (a public record not past its end)")
    objectionable: bool = Field(description="an objection can be filed against it now")
    why_not: str | None = Field(description="why no objection can be filed against it now")


class ZoneListCase(BaseModel):
    """One listing case about the entity: its status and deadlines (rectification, interview, exit)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    list_type: str
    list_name: str
    department: str = Field(description="the listing department (谁认定、谁约谈)")
    status: Literal["proposed", "listed", "rectified", "withdrawn", "exited"]
    proposed_on: date
    response_due: date
    listed_on: date | None
    rectification_due: date | None
    rectified_on: date | None
    interview_due: bool = Field(description="rectification is overdue: the listing department interviews")
    interviewed_on: date | None
    min_exit_on: date | None = Field(description="the earliest day an exit can be applied for")
    max_end: date | None = Field(description="the day the listing ends at the latest")
    exited_on: date | None
    exit_reason: str | None
    clock: DeadlineClock = Field(description="the rectification deadline while listed and not rectified")


class PriorNotice(BaseModel):
    """A prior notice (事先告知) of a proposed listing, waiting for the entity's statement (陈述申辩)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    list_type: str
    list_name: str
    department: str
    proposed_on: date
    notice: str
    reasons: str
    basis: str
    response_due: date
    response: str | None = Field(description="the statement already recorded, if any")
    clock: DeadlineClock
    can_state: bool = Field(
        description="a statement can be made now (proposed, deadline not passed, none yet)"
    )


class ZoneCommitment(BaseModel):
    """One commitment of the entity: made here (with its department) or ingested into the lake."""

    model_config = ConfigDict(frozen=True)

    commitment_id: str
    source: Literal["here", "lake"]
    matter: str
    title: str | None
    commitment_type: str
    department: str | None
    made_on: date
    due_on: date | None
    status: str = Field(description="pending, fulfilled, breached or interviewed")
    determined_on: date | None


class ZoneObjection(BaseModel):
    """One objection of the entity and its clock (marking, then deciding)."""

    model_config = ConfigDict(frozen=True)

    objection_id: str
    record_table: str
    record_id: str
    department: str
    grounds: str
    status: Literal["filed", "marked", "upheld", "rejected"]
    label: str | None
    filed_on: date
    mark_due: date
    decide_due: date
    marked_on: date | None
    decided_on: date | None
    resolution: str | None
    reasons: str | None
    clock: DeadlineClock


class ZoneRepair(BaseModel):
    """One repair application about the entity and its clock (acceptance, then decision)."""

    model_config = ConfigDict(frozen=True)

    repair_id: str
    record_table: str
    record_id: str
    department: str
    status: str
    applied_on: date
    accept_due: date
    accepted_on: date | None
    decide_due: date | None
    decided_on: date | None
    reasons: str | None
    clock: DeadlineClock


class ZoneTemplate(BaseModel):
    """A commitment template the entity may choose (a 告知承诺 runs the embedded check first)."""

    model_config = ConfigDict(frozen=True)

    matter: str
    title: str
    commitment_type: str
    due_days: int
    text: str
    checked: bool = Field(description="a 告知承诺: refused if the embedded check's rules refuse the entity")


class ZoneView(BaseModel):
    """Everything the entity sees of itself in the zone (no risk classification: :data:`RISK_INTERNAL`)."""

    model_config = ConfigDict(frozen=True)

    uscc: str
    on: date
    registration: Registration
    records: list[ZoneRecord]
    lists: list[ZoneListCase]
    notices: list[PriorNotice]
    commitments: list[ZoneCommitment]
    objections: list[ZoneObjection]
    repairs: list[ZoneRepair]
    templates: list[ZoneTemplate]
    departments: list[str] = Field(description="the departments a commitment can be made to")
    not_shown: str = Field(description="what the zone never shows, and why")


# ----------------------------------------------------------------------------------------------- helpers
def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | float | int | bool):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def department_of(t: Table, row: Mapping[str, Any]) -> str | None:
    """The department that produced a record (its authority/department column), or None."""
    for column in PRODUCER_COLUMNS:
        if column in t.columns and row.get(column):
            return str(row[column])
    return None


def open_record(ctx: Context, record_table: str, record_id: str) -> tuple[Table, dict[str, Any]]:
    """A record of a table open to its subject, read from the lake: 422 for a table the entity cannot see,
    404 if no such record; the caller checks whose it is (``own_entity`` on the record's ``uscc``)."""
    t = BY_NAME.get(record_table)
    if t is None or record_table not in RECORD_TABLES or t.openness not in OPEN:
        shown = ", ".join(x.name for x in TABLES if x.name in RECORD_TABLES and x.openness in OPEN)
        raise DomainError(
            f"record_table {record_table!r}: an entity objects to records of its credit record ({shown})",
            field="record_table",
        )
    (key,) = t.key
    found = ctx.sources()[record_table].filter(pl.col(key) == record_id).collect()
    if found.is_empty():
        raise NotFoundError(f"{record_table}:{record_id}: no such record in the lake", field="record_id")
    return t, found.row(0, named=True)


def known_departments(ctx: Context) -> list[str]:
    """The departments with staff on the platform (a token of a staff role not revoked): those a commitment
    can be made to."""
    rows = ctx.session.scalars(
        sa.select(ApiToken.department)
        .where(
            ApiToken.department.is_not(None),
            ApiToken.role.in_(sorted(r.value for r in STAFF_ROLES)),
            ApiToken.revoked_at.is_(None),
        )
        .distinct()
    )
    return sorted({d for d in rows if d})


def _registration(ctx: Context, uscc: str) -> Registration:
    rows = ctx.sources()["entities"].filter(pl.col("uscc") == uscc).collect()
    if rows.is_empty():
        raise NotFoundError(f"uscc {uscc}: no such entity in the lake", field="uscc")
    # Registrations are re-issued with changes: the last batch's row stands.
    row = mask_record(rows.row(rows.height - 1, named=True), audience=AUDIENCE, table="entities")
    return Registration.model_validate({k: row.get(k) for k in Registration.model_fields})


def _publicity_end(t: Table, row: Mapping[str, Any], policy: Policy, samr: Any) -> date | None:
    if t.name == "penalties":
        return publicity_end(row, samr=samr(row.get("authority")), policy=policy)
    if t.name == "list_entries":
        end: date | None = row.get("exited_on") or row.get("planned_end")
        return end
    given = row.get("publicity_until")
    if given is not None:
        until: date = given
        return until
    kind = {"licences": "licence", "inspections": "inspection"}.get(t.name)
    if t.name == "decisions":
        kind = row.get("kind")
    day = row.get(t.event_date) if t.event_date else None
    if kind is None or day is None:
        return None
    if t.name == "licences" and row.get("valid_to") is not None:
        valid: date = row["valid_to"]
        return valid
    rule = policy.in_force(f"publicity.{kind}", on=day)
    return None if rule is None else rule.end(day)


def _records(ctx: Context, uscc: str, today: date, pending: set[tuple[str, str]]) -> list[ZoneRecord]:
    sources = ctx.sources()
    after = today + timedelta(days=1)  # decisions dated today already apply
    state = objection_state(sources["objections"], as_of=after).collect()
    repaired = repair_state(sources["repairs"], as_of=after).collect()
    states = {(r["record_table"], r["record_id"]): r for r in state.iter_rows(named=True)}
    repairs_on = {
        (r["record_table"], r["record_id"]): r["repaired_on"] for r in repaired.iter_rows(named=True)
    }
    policy = ctx.policy()
    samr = market_supervision(policy)
    out: list[ZoneRecord] = []
    for t in TABLES:
        if t.name not in RECORD_TABLES or t.openness not in OPEN:
            continue
        (key,) = t.key
        frame = sources[t.name].filter(pl.col("uscc") == uscc)
        if t.event_date:
            frame = frame.sort(t.event_date, descending=True, nulls_last=True)
        for raw in frame.collect().iter_rows(named=True):
            rid = str(raw[key])
            masked = mask_record(raw, audience=AUDIENCE, table=t.name)
            fields = [
                ZoneField(name=f.name, zh=f.zh, en=f.en, value=_scalar(masked.get(f.name)))
                for f in t.fields
                if f.name not in (*t.internal_fields, key, "uscc") and f.name in masked
            ]
            s = states.get((t.name, rid), {})
            repaired_on = repairs_on.get((t.name, rid))
            if s.get("revoked"):
                legal = "revoked"
            elif s.get("corrected"):
                legal = "corrected"
            elif repaired_on is not None:
                legal = "repaired"
            elif s.get("under_objection") or (t.name, rid) in pending:
                legal = "under_objection"
            else:
                legal = "in_force"
            end = _publicity_end(t, raw, policy, samr)
            department = department_of(t, raw)
            why_not = None
            if legal in ("revoked", "corrected"):
                why_not = "zone.why_not.decided"
            elif (t.name, rid) in pending:
                why_not = "zone.why_not.pending"
            elif department is None:
                why_not = "zone.why_not.no_department"
            out.append(
                ZoneRecord(
                    record_table=t.name,
                    table_zh=t.zh,
                    table_en=t.en,
                    openness=t.openness,  # type: ignore[arg-type]  # OPEN only
                    record_id=rid,
                    event_date=raw.get(t.event_date) if t.event_date else None,
                    department=department,
                    fields=fields,
                    state=legal,  # type: ignore[arg-type]
                    repaired_on=repaired_on,
                    publicity_end=end,
                    publicly_shown=t.openness == "public"
                    and legal not in ("revoked", "repaired")
                    and (end is None or end > today),
                    objectionable=why_not is None,
                    why_not=why_not,
                )
            )
    return out


def _lists(ctx: Context, uscc: str, today: date) -> tuple[list[ZoneListCase], list[PriorNotice]]:
    rows = list(
        ctx.session.scalars(
            sa.select(lists.ListCase)
            .where(lists.ListCase.uscc == uscc)
            .order_by(lists.ListCase.proposed_on, lists.ListCase.case_id)
        )
    )
    cases, notices = [], []
    for c in rows:
        name = lists.LIST_NAMES.get(c.list_type, c.list_type)
        rectifying = c.status == "listed" and c.rectified_on is None
        cases.append(
            ZoneListCase(
                case_id=c.case_id,
                list_type=c.list_type,
                list_name=name,
                department=c.department,
                status=c.status,  # type: ignore[arg-type]
                proposed_on=c.proposed_on,
                response_due=c.response_due,
                listed_on=c.listed_on,
                rectification_due=c.rectification_due,
                rectified_on=c.rectified_on,
                interview_due=rectifying
                and c.rectification_due is not None
                and c.rectification_due < today
                and c.interviewed_on is None,
                interviewed_on=c.interviewed_on,
                min_exit_on=c.min_exit_on,
                max_end=c.max_end,
                exited_on=c.exited_on,
                exit_reason=c.exit_reason,
                clock=DeadlineClock.of(c.rectification_due if rectifying else None, today),
            )
        )
        if c.status == "proposed":
            notices.append(
                PriorNotice(
                    case_id=c.case_id,
                    list_type=c.list_type,
                    list_name=name,
                    department=c.department,
                    proposed_on=c.proposed_on,
                    notice=c.notice,
                    reasons=c.reasons,
                    basis=c.basis,
                    response_due=c.response_due,
                    response=c.response,
                    clock=DeadlineClock.of(c.response_due, today),
                    can_state=c.response is None and today <= c.response_due,
                )
            )
    return cases, notices


def _commitments(ctx: Context, uscc: str) -> list[ZoneCommitment]:
    made = list(
        ctx.session.scalars(
            sa.select(commitments.Commitment)
            .where(commitments.Commitment.uscc == uscc)
            .order_by(commitments.Commitment.made_on, commitments.Commitment.commitment_id)
        )
    )
    out = [
        ZoneCommitment(
            commitment_id=c.commitment_id,
            source="here",
            matter=c.matter,
            title=c.title,
            commitment_type=c.commitment_type,
            department=c.department,
            made_on=c.made_on,
            due_on=c.due_on,
            status=c.status,
            determined_on=c.determined_on,
        )
        for c in made
    ]
    here = {c.commitment_id for c in made}  # a commitment made here reaches the lake once determined
    lake = ctx.sources()["commitments"].filter(pl.col("uscc") == uscc).sort("made_on").collect()
    for r in lake.iter_rows(named=True):
        if r["commitment_id"] in here:
            continue
        out.append(
            ZoneCommitment(
                commitment_id=r["commitment_id"],
                source="lake",
                matter=r["matter"],
                title=None,
                commitment_type=r["commitment_type"],
                department=None,
                made_on=r["made_on"],
                due_on=r["due_on"],
                status=r["fulfilment"],
                determined_on=r["fulfilment_on"],
            )
        )
    return out


def _objections(ctx: Context, uscc: str, today: date) -> list[ZoneObjection]:
    out = []
    for o in objections.list_objections(ctx.session, uscc=uscc):
        due = {"filed": o.mark_due, "marked": o.decide_due}.get(o.status)
        out.append(
            ZoneObjection.model_validate(
                {k: getattr(o, k) for k in ZoneObjection.model_fields if k not in ("label", "clock")}
                | {
                    "label": "异议处理中" if o.status == "marked" else None,
                    "clock": DeadlineClock.of(due, today),
                }
            )
        )
    return out


def _repairs(ctx: Context, uscc: str, today: date) -> list[ZoneRepair]:
    out = []
    for r in repairs.list_repairs(ctx.session, uscc=uscc):
        due = {"applied": r.accept_due, "accepted": r.decide_due}.get(r.status)
        out.append(
            ZoneRepair.model_validate(
                {k: getattr(r, k) for k in ZoneRepair.model_fields if k != "clock"}
                | {"clock": DeadlineClock.of(due, today)}
            )
        )
    return out


def _templates() -> list[ZoneTemplate]:
    return [
        ZoneTemplate(
            matter=t.matter,
            title=t.title,
            commitment_type=t.commitment_type,
            due_days=t.due_days,
            text=t.text,
            checked=t.check_matter is not None,
        )
        for t in commitments.load_templates().values()
    ]


# --------------------------------------------------------------------------------------------- use case
@use_case("zone.record", roles=ENTITY)
def record(ctx: Context) -> ZoneView:
    """The signed-in entity's own credit record, deadlines and filings (its USCC is its token's)."""
    uscc = ctx.actor.uscc
    assert uscc is not None  # check_role refuses an entity identity without its USCC
    own_entity(ctx, uscc)
    today = ctx.today
    mine = _objections(ctx, uscc, today)
    pending = {(o.record_table, o.record_id) for o in mine if o.status in ("filed", "marked")}
    cases, notices = _lists(ctx, uscc, today)
    view = ZoneView(
        uscc=uscc,
        on=today,
        registration=_registration(ctx, uscc),
        records=_records(ctx, uscc, today, pending),
        lists=cases,
        notices=notices,
        commitments=_commitments(ctx, uscc),
        objections=mine,
        repairs=_repairs(ctx, uscc, today),
        templates=_templates(),
        departments=known_departments(ctx),
        not_shown=RISK_INTERNAL,
    )
    ctx.audit(
        "zone.record",
        target=f"uscc:{uscc}",
        details={"records": len(view.records), "cases": len(view.lists), "notices": len(view.notices)},
        read=True,
    )
    return view
