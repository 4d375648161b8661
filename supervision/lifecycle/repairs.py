"""Credit repair (信用修复): applications with system-checked conditions, decided on working-day deadlines.

applied → accepted → approved | rejected (or applied → rejected, 不予受理). The authority that issued the
record (the lake's ``authority``) chooses the repair regime (``[repair_authorities]`` of the lifecycle
policy: market supervision → ``samr``, every other authority → the ``fallback``, the national rule). The
regime names the minimum-publicity channels whose rules apply (``<channel>.<severity>[.<domain>]``, from
the penalty decision; the latest earliest date governs) and the repair routes it requires
(``[repair_conditions.<regime>]``: credit training, a credit report, public-interest service, by severity).
An application before the earliest eligible date, or without evidence of a required route, is refused
(不予受理) naming the date or the route. The other conditions are checked against the lake on the day of each
step, under the rules in force on that day, and recorded: obligations fulfilled (the department's evidence),
a credit commitment, no repeat violation of the same type, not on a blocking list, and not a penalty whose
publicity never stops early. Approval writes a ``repairs`` row (and the commitment) into the lake: publicity
stops, the list entry ends, features change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import SEVERITIES
from supervision.lifecycle import lists
from supervision.lifecycle.documents import link_repair
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import CONFIDENCES, Policy, PolicyError, default_policy
from supervision.lifecycle.workflow import Actor, StateMachine, case_id, get_row, instant
from supervision.platform.calendar import working_days_between
from supervision.platform.db import Base
from supervision.platform.errors import DomainError

__all__ = [
    "MACHINE",
    "REPAIRABLE_TABLES",
    "Condition",
    "Regime",
    "Repair",
    "RepairError",
    "RepairRules",
    "RouteRequirement",
    "accept",
    "apply",
    "approve",
    "check_conditions",
    "get",
    "handling_department",
    "overdue",
    "record_uscc",
    "reject",
    "repair_rules",
]

REPAIRABLE_TABLES = ("penalties", "list_entries")
# The lake key of a repairable record, by table.
_KEYS = {"penalties": "decision_no", "list_entries": "entry_id"}
MACHINE = StateMachine(
    "repair",
    {
        "applied": {"accept": "accepted", "reject": "rejected"},
        "accepted": {"approve": "approved", "reject": "rejected"},
    },
)
TierLookup = Callable[[str], str | None]


class RepairError(DomainError, ValueError):
    """A repair application that cannot be made or decided as asked."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One checked condition: its name, whether it holds, why, and the policy rule it used (if any)."""

    name: str
    ok: bool
    detail: str
    rule: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Regime:
    """One repair regime of ``[repair_authorities]``: the authorities it covers (fragments of their names)
    and the minimum-publicity channels (rule-kind prefixes) whose rules apply to their penalties."""

    name: str
    authorities: tuple[str, ...]
    min_publicity: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class RouteRequirement:
    """One ``[[repair_conditions.<regime>]]`` entry: from ``effective_from`` on, the routes (credit
    training, credit report, public-interest service …) the regime requires, by penalty severity."""

    regime: str
    effective_from: date
    by_severity: Mapping[str, tuple[str, ...]]
    source: str
    confidence: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "regime": self.regime,
            "effective_from": self.effective_from.isoformat(),
            "source": self.source,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class RepairRules:
    """The repair regimes of a policy (``[repair_authorities]``), their routes (``[repair_conditions]``)."""

    regimes: Mapping[str, Regime]
    fallback: str
    catalog: Mapping[str, str]
    routes: Mapping[str, tuple[RouteRequirement, ...]]

    def regime_of(self, authority: str | None) -> Regime:
        """The regime of the authority that issued a record: the one with the longest name fragment found in
        `authority`, else the fallback (the national rule)."""
        name = (authority or "").strip()
        hits = [(len(f), r) for r in self.regimes.values() for f in r.authorities if f in name]
        return max(hits, key=lambda hit: hit[0])[1] if hits else self.regimes[self.fallback]

    def required(
        self, regime: str, severity: str, *, on: date
    ) -> tuple[tuple[str, ...], RouteRequirement | None]:
        """The routes `regime` requires of a penalty of `severity` on `on`, and the entry in force."""
        in_force = [e for e in self.routes.get(regime, ()) if e.effective_from <= on]
        if not in_force:
            return (), None
        entry = max(in_force, key=lambda e: e.effective_from)
        return entry.by_severity.get(severity, ()), entry


def _strings(value: Any, where: str, *, empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PolicyError(f"{where}: expected a list of non-empty strings")
    if not value and not empty:
        raise PolicyError(f"{where}: expected at least one entry")
    return tuple(value)


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}: {key} must be a non-empty string")
    return value


def _regime(name: str, table: Any, policy: Policy) -> Regime:
    where = f"{policy.origin} [repair_authorities.{name}]"
    if not isinstance(table, dict):
        raise PolicyError(f"{where}: expected a table of authorities, min_publicity, source")
    unknown = sorted(set(table) - {"authorities", "min_publicity", "source"})
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}")
    channels = _strings(table.get("min_publicity"), f"{where} min_publicity")
    for channel in channels:
        if not any(kind.startswith(f"{channel}.") for kind in policy.kinds):
            raise PolicyError(f"{where} min_publicity: no [[rule]] of kind {channel}.<severity>")
    return Regime(
        name=name,
        authorities=_strings(table.get("authorities", []), f"{where} authorities", empty=True),
        min_publicity=channels,
        source=_text(table, "source", where),
    )


def _routes(
    regime: str, entries: Any, policy: Policy, catalog: Mapping[str, str]
) -> tuple[RouteRequirement, ...]:
    where = f"{policy.origin} [[repair_conditions.{regime}]]"
    if not isinstance(entries, list):
        raise PolicyError(f"{where}: expected an array of tables ([[repair_conditions.{regime}]])")
    out: list[RouteRequirement] = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise PolicyError(f"{at}: expected a table")
        unknown = sorted(set(entry) - {"effective_from", "source", "confidence", *SEVERITIES})
        if unknown:
            raise PolicyError(
                f"{at}: unknown key(s) {', '.join(unknown)} (severities: {', '.join(SEVERITIES)})"
            )
        start = entry.get("effective_from")
        if not isinstance(start, date) or start in {e.effective_from for e in out}:
            raise PolicyError(f"{at}: effective_from must be a TOML date (YYYY-MM-DD), one per entry")
        if entry.get("confidence") not in CONFIDENCES:
            raise PolicyError(f"{at}: confidence must be one of {', '.join(CONFIDENCES)}")
        by_severity = {s: _strings(entry[s], f"{at} {s}", empty=True) for s in SEVERITIES if s in entry}
        for severity, names in by_severity.items():
            strange = sorted(set(names) - set(catalog))
            if strange:
                raise PolicyError(
                    f"{at} {severity}: {', '.join(strange)} not in [repair_conditions.catalog] "
                    f"({', '.join(catalog)})"
                )
        out.append(
            RouteRequirement(
                regime=regime,
                effective_from=start,
                by_severity=by_severity,
                source=_text(entry, "source", at),
                confidence=entry["confidence"],
            )
        )
    return tuple(out)


def repair_rules(policy: Policy | None = None) -> RepairRules:
    """``[repair_authorities]`` and ``[repair_conditions]`` of the policy, checked (errors name the table and
    the key)."""
    policy = policy or default_policy()
    authorities = dict(policy.section("repair_authorities"))
    fallback = authorities.pop("fallback", None)
    regimes = {name: _regime(name, table, policy) for name, table in authorities.items()}
    where = f"{policy.origin} [repair_authorities]"
    if not isinstance(fallback, str) or fallback not in regimes:
        raise PolicyError(f"{where}: fallback must name one of its regimes ({', '.join(regimes) or 'none'})")
    seen: dict[str, str] = {}
    for regime in regimes.values():
        for fragment in regime.authorities:
            if fragment in seen:
                raise PolicyError(f"{where}: {fragment!r} is in both {seen[fragment]} and {regime.name}")
            seen[fragment] = regime.name
    conditions = dict(policy.section("repair_conditions"))
    catalog = conditions.pop("catalog", None)
    if (
        not isinstance(catalog, dict)
        or not catalog
        or not all(isinstance(v, str) and v.strip() for v in catalog.values())
    ):
        raise PolicyError(f"{policy.origin} [repair_conditions.catalog]: expected route names → labels")
    strange = sorted(set(conditions) - set(regimes))
    if strange:
        raise PolicyError(
            f"{policy.origin} [repair_conditions]: {', '.join(strange)} is not a regime of "
            f"[repair_authorities] ({', '.join(regimes)})"
        )
    routes = {name: _routes(name, entries, policy, catalog) for name, entries in conditions.items()}
    return RepairRules(regimes=regimes, fallback=fallback, catalog=catalog, routes=routes)


class Repair(Base):
    """One repair application for one record of the lake."""

    __tablename__ = "repairs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('applied', 'accepted', 'approved', 'rejected')", name="status"),
    )

    repair_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    record_table: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    applicant: Mapped[str] = mapped_column(sa.String(200))
    commitment: Mapped[str | None] = mapped_column(sa.Text)
    obligations_evidence: Mapped[str | None] = mapped_column(sa.Text)
    # The repair regime of the record's authority ([repair_authorities]) and the routes the application
    # gives evidence of: route name → reference (certificate, report number …).
    regime: Mapped[str | None] = mapped_column(sa.String(32))
    conditions_met: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    applied_on: Mapped[date] = mapped_column(sa.Date)
    accept_due: Mapped[date] = mapped_column(sa.Date)
    accepted_on: Mapped[date | None] = mapped_column(sa.Date)
    decide_due: Mapped[date | None] = mapped_column(sa.Date)
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    reasons: Mapped[str | None] = mapped_column(sa.Text)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    tier_before: Mapped[str | None] = mapped_column(sa.String(8))
    tier_after: Mapped[str | None] = mapped_column(sa.String(8))
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            c: getattr(self, c)
            for c in (
                "repair_id",
                "uscc",
                "record_table",
                "record_id",
                "department",
                "applicant",
                "commitment",
                "obligations_evidence",
                "regime",
                "conditions_met",
                "applied_on",
                "accept_due",
                "accepted_on",
                "decide_due",
                "decided_on",
                "status",
                "reasons",
                "conditions",
                "tier_before",
                "tier_after",
            )
        }


def get(session: Session, repair_id: str) -> Repair:
    return get_row(session, Repair, repair_id, "repair")


def _one(frame: pl.LazyFrame, key: str, value: str, table: str) -> dict[str, Any]:
    rows = frame.filter(pl.col(key) == value).collect().to_dicts()
    if not rows:
        raise RepairError(f"{table} record {value!r} is not in the lake")
    return rows[-1]


def handling_department(
    sources: Mapping[str, pl.LazyFrame], *, record_table: str, record_id: str
) -> str | None:
    """The department that penalised or listed (the record's ``authority`` in the lake): it handles the
    repair. None when the record names none."""
    if record_table not in REPAIRABLE_TABLES:
        raise RepairError(f"record_table {record_table!r}: repairs apply to {', '.join(REPAIRABLE_TABLES)}")
    authority = _one(sources[record_table], _KEYS[record_table], record_id, record_table).get("authority")
    return authority.strip() or None if isinstance(authority, str) else None


def record_uscc(sources: Mapping[str, pl.LazyFrame], *, record_table: str, record_id: str) -> str:
    """The entity a repairable record of the lake is about (its ``uscc``): whose record it is."""
    if record_table not in REPAIRABLE_TABLES:
        raise RepairError(
            f"record_table {record_table!r}: repairs apply to {', '.join(REPAIRABLE_TABLES)}",
            field="record_table",
        )
    return str(_one(sources[record_table], _KEYS[record_table], record_id, record_table)["uscc"])


@dataclass(frozen=True, slots=True)
class Eligibility:
    """When a record may be repaired: its regime, the earliest eligible day and why, the routes required."""

    regime: str
    earliest: date
    detail: str
    required: tuple[str, ...]


def check_conditions(
    sources: Mapping[str, pl.LazyFrame],
    *,
    uscc: str,
    record_table: str,
    record_id: str,
    on: date,
    commitment: str | None,
    obligations_evidence: str | None,
    conditions_met: Mapping[str, str] | None = None,
    policy: Policy | None = None,
) -> list[Condition]:
    """Every repair condition for the record on ``on`` (rules in force on ``on``)."""
    return _checked(
        sources,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        on=on,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        conditions_met=conditions_met,
        policy=policy or default_policy(),
    )[0]


def _checked(
    sources: Mapping[str, pl.LazyFrame],
    *,
    uscc: str,
    record_table: str,
    record_id: str,
    on: date,
    commitment: str | None,
    obligations_evidence: str | None,
    conditions_met: Mapping[str, str] | None,
    policy: Policy,
) -> tuple[list[Condition], Eligibility]:
    if record_table not in REPAIRABLE_TABLES:
        raise RepairError(f"record_table {record_table!r}: repairs apply to {', '.join(REPAIRABLE_TABLES)}")
    record = _one(sources[record_table], _KEYS[record_table], record_id, record_table)
    if record["uscc"] != uscc:
        raise RepairError(f"{record_table} record {record_id!r} belongs to {record['uscc']}, not {uscc}")
    rules_of = repair_rules(policy)
    authority = record.get("authority") if isinstance(record.get("authority"), str) else None
    regime = rules_of.regime_of(authority)
    out: list[Condition] = []
    required: tuple[str, ...] = ()
    routes: RouteRequirement | None = None
    if record_table == "penalties":
        start = record["decided_on"]
        severity, domain = record["severity"], record["domain"]
        # The regime's channels (the SAMR publicity system and the national platform for market
        # supervision; the national platform only for every other authority), each's most specific rule in
        # force on `on`; the channel asking longest governs.
        channels = [(f"{c}.{severity}.{domain}", f"{c}.{severity}") for c in regime.min_publicity]
        found = [
            next((r for r in (policy.in_force(k, on=on) for k in kinds) if r is not None), None)
            for kinds in channels
        ]
        rules = [r for r in found if r is not None]
        if not rules:
            raise RepairError(
                f"no {' or '.join(regime.min_publicity)} rule for severity {severity!r} in force on "
                f"{on.isoformat()} (repair regime {regime.name})"
            )
        required, routes = rules_of.required(regime.name, severity, on=on)
        never = policy.set("never_stop_early")
        out.append(
            Condition(
                "stoppable_kind",
                record["penalty_kind"] not in never,
                f"penalty kind {record['penalty_kind']}"
                + (" is never stopped early (Order 45 art 14)" if record["penalty_kind"] in never else ""),
            )
        )
        repeats = (
            sources["penalties"]
            .filter(
                (pl.col("uscc") == uscc)
                & (pl.col("violation_type") == record["violation_type"])
                & (pl.col("decision_no") != record_id)
                & (pl.col("decided_on") > start)
                & (pl.col("decided_on") <= on)
            )
            .select("decision_no")
            .collect()
            .to_series()
            .to_list()
        )
        out.append(
            Condition(
                "no_repeat",
                not repeats,
                f"later penalties for {record['violation_type']}: {', '.join(repeats)}"
                if repeats
                else f"no later penalty for {record['violation_type']}",
            )
        )
    else:
        start = record["listed_on"]
        rules = [policy.rules_for(f"list.min.{record['list_type']}", on=on)]
    rule = max(rules, key=lambda r: r.end(start))
    earliest = rule.end(start)
    detail = (
        f"repair regime {regime.name} (authority {authority or 'not named'}), from {start.isoformat()}: "
        + "; ".join(f"{r.regime} {r.kind} {r.value} {r.unit} → {r.end(start).isoformat()}" for r in rules)
        + f"; earliest {earliest.isoformat()}"
    )
    out.append(Condition("minimum_period", earliest <= on, detail, rule.as_dict()))
    met = conditions_met or {}
    for name in required:
        reference = (met.get(name) or "").strip()
        out.append(
            Condition(
                name,
                bool(reference),
                f"{rules_of.catalog[name]}: {reference}"
                if reference
                else f"{rules_of.catalog[name]}: required by the {regime.name} regime for "
                f"{record['severity']} penalties ({routes.source if routes else 'policy'}), "
                "no evidence given",
                routes.as_dict() if routes is not None else None,
            )
        )
    out.append(
        Condition(
            "obligations_fulfilled",
            bool(obligations_evidence and obligations_evidence.strip()),
            "evidence: " + obligations_evidence
            if obligations_evidence and obligations_evidence.strip()
            else "no evidence that the penalty's obligations are fulfilled",
        )
    )
    out.append(
        Condition(
            "credit_commitment",
            bool(commitment and commitment.strip()),
            "commitment given" if commitment and commitment.strip() else "no public credit commitment",
        )
    )
    blocking = set(policy.set("blocking_lists"))
    active = (
        lists.lake_entries_active(sources, uscc=uscc, on=on)
        .select("entry_id", "list_type")
        .filter(pl.col("list_type").is_in(sorted(blocking)) & (pl.col("entry_id") != record_id))
        .collect()
    )
    listed = [f"{t}:{e}" for e, t in active.rows()]
    out.append(
        Condition(
            "not_on_blocking_list",
            not listed,
            f"on {', '.join(listed)}" if listed else "on no abnormal or severe list",
        )
    )
    return out, Eligibility(regime=regime.name, earliest=earliest, detail=detail, required=required)


def _conditions_met(given: Mapping[str, str] | None, policy: Policy) -> dict[str, str]:
    """The routes an application gives evidence of, checked against [repair_conditions.catalog]."""
    catalog = repair_rules(policy).catalog
    out: dict[str, str] = {}
    for name, reference in (given or {}).items():
        if name not in catalog:
            raise RepairError(
                f"conditions_met {name!r}: not a repair route of the policy ({', '.join(catalog)})",
                field="conditions_met",
            )
        if not isinstance(reference, str) or not reference.strip():
            raise RepairError(
                f"conditions_met {name!r}: the reference (certificate, report number …) is required",
                field="conditions_met",
            )
        out[name] = reference.strip()
    return out


def _refuse_early_or_incomplete(
    conditions: list[Condition],
    eligibility: Eligibility,
    *,
    applied_on: date,
    documents: Mapping[str, str] | None = None,
    documents_required: bool = False,
) -> None:
    """不予受理: an application before the earliest eligible date, or without a route its regime requires
    (with `documents_required`, the entity's own application: without a document of each such route)."""
    if applied_on < eligibility.earliest:
        raise RepairError(
            f"applied_on {applied_on.isoformat()}: before the earliest eligible date "
            f"{eligibility.earliest.isoformat()} ({eligibility.detail}); not accepted (不予受理), "
            f"apply on or after {eligibility.earliest.isoformat()}",
            field="applied_on",
        )
    if documents_required:
        undocumented = [name for name in eligibility.required if name not in (documents or {})]
        if undocumented:
            first = undocumented[0]
            raise RepairError(
                f"document_{first}: the {eligibility.regime} regime requires a document of "
                + ", ".join(undocumented)
                + " for this record; not accepted (不予受理) until it is attached (PDF, JPEG or PNG)",
                field=f"document_{first}",
            )
    missing = [c for c in conditions if c.name in eligibility.required and not c.ok]
    if missing:
        raise RepairError(
            "conditions_met: missing "
            + "; ".join(f"{c.name} ({c.detail})" for c in missing)
            + "; not accepted (不予受理) until the application gives evidence of "
            + ", ".join(c.name for c in missing),
            field="conditions_met",
        )


def _repair_id(uscc: str, record_table: str, record_id: str, applied_on: date) -> str:
    return case_id("REP", uscc, record_table, record_id, applied_on)


def apply(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    actor: Actor,
    uscc: str,
    record_table: str,
    record_id: str,
    department: str,
    applied_on: date,
    commitment: str | None = None,
    obligations_evidence: str | None = None,
    conditions_met: Mapping[str, str] | None = None,
    policy: Policy | None = None,
    tiers: TierLookup | None = None,
    documents: Mapping[str, str] | None = None,
    documents_required: bool = False,
) -> Repair:
    """Record an application, its conditions as checked today and its acceptance deadline.

    Refused (不予受理) before the earliest eligible date of the record's regime and without evidence of a
    route the regime requires; every other failed condition is recorded for the department's decision.
    `documents` (route → SHA-256 of a stored document, :mod:`supervision.lifecycle.documents`) are the
    evidence of their routes (the reference is the document when none is given) and are linked to the
    application; with `documents_required` (the entity's own application) each required route needs one."""
    policy = policy or default_policy()
    if not department or not department.strip():
        raise RepairError("department: required (the department that penalised or listed handles the repair)")
    met = _conditions_met(conditions_met, policy)
    catalog = repair_rules(policy).catalog
    for name, sha in (documents or {}).items():
        if name not in catalog:
            raise RepairError(
                f"document_{name}: not a repair route of the policy ({', '.join(catalog)})",
                field=f"document_{name}",
            )
        met.setdefault(name, f"document sha256:{sha}")
    conditions, eligibility = _checked(
        sources,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        on=applied_on,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        conditions_met=met,
        policy=policy,
    )
    _refuse_early_or_incomplete(
        conditions,
        eligibility,
        applied_on=applied_on,
        documents=documents,
        documents_required=documents_required,
    )
    repair_id = _repair_id(uscc, record_table, record_id, applied_on)
    if session.get(Repair, repair_id) is not None:
        raise RepairError(f"repair {repair_id}: already applied for on {applied_on.isoformat()}")
    open_ = session.scalar(
        sa.select(Repair.repair_id).where(
            Repair.record_table == record_table,
            Repair.record_id == record_id,
            Repair.status.in_(("applied", "accepted", "approved")),
        )
    )
    if open_ is not None:
        raise RepairError(f"{record_table} record {record_id!r}: repair {open_} is already open or approved")
    accept_rule = policy.rules_for("repair.accept", on=applied_on)
    row = Repair(
        repair_id=repair_id,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        department=department,
        applicant=actor.name,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        regime=eligibility.regime,
        conditions_met=met,
        applied_on=applied_on,
        accept_due=accept_rule.end(applied_on),
        status="applied",
        conditions=[asdict(c) for c in conditions],
        tier_before=tiers(uscc) if tiers else None,
        updated_at=instant(actor.at),
    )
    session.add(row)
    session.flush()
    if documents:
        link_repair(session, repair_id, dict(documents))
    MACHINE.record(
        session,
        actor=actor,
        object_id=repair_id,
        action="apply",
        before=None,
        after="applied",
        on=applied_on,
        details={
            "record": f"{record_table}:{record_id}",
            "regime": eligibility.regime,
            "earliest": eligibility.earliest,
            "failed": [c.name for c in conditions if not c.ok],
            "documents": dict(documents or {}),
        },
    )
    return row


def _check_day(row: Repair, on: date) -> None:
    if on < row.applied_on:
        raise RepairError(f"repair {row.repair_id}: {on.isoformat()} is before the application")


def accept(
    session: Session, repair_id: str, *, actor: Actor, on: date, policy: Policy | None = None
) -> Repair:
    """Accept a complete application (受理); the decision deadline runs from today."""
    policy = policy or default_policy()
    row = get(session, repair_id)
    after = MACHINE.next_state(repair_id, row.status, "accept")
    _check_day(row, on)
    decide_rule = policy.rules_for("repair.decide", on=on)
    before = row.status
    row.status, row.accepted_on, row.decide_due, row.updated_at = (
        after,
        on,
        decide_rule.end(on),
        instant(actor.at),
    )
    MACHINE.record(
        session,
        actor=actor,
        object_id=repair_id,
        action="accept",
        before=before,
        after=after,
        on=on,
        details={"decide_due": row.decide_due, "late": on > row.accept_due},
    )
    return row


def approve(
    session: Session,
    repair_id: str,
    sources: Mapping[str, pl.LazyFrame],
    *,
    actor: Actor,
    on: date,
    lake: Lake | None = None,
    policy: Policy | None = None,
    tiers: TierLookup | None = None,
) -> Repair:
    """Approve when every condition holds on ``on``; the lake gets the repair (and the commitment)."""
    policy = policy or default_policy()
    row = get(session, repair_id)
    after = MACHINE.next_state(repair_id, row.status, "approve")
    _check_day(row, on)
    conditions = check_conditions(
        sources,
        uscc=row.uscc,
        record_table=row.record_table,
        record_id=row.record_id,
        on=on,
        commitment=row.commitment,
        obligations_evidence=row.obligations_evidence,
        conditions_met=row.conditions_met,
        policy=policy,
    )
    failed = [c for c in conditions if not c.ok]
    if failed:
        raise RepairError(
            f"repair {repair_id} cannot be approved on {on.isoformat()}: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            + " (reject it with these reasons instead)"
        )
    before = row.status
    row.status, row.decided_on, row.conditions, row.updated_at = (
        after,
        on,
        [asdict(c) for c in conditions],
        instant(actor.at),
    )
    if lake is not None:
        write_rows(
            lake,
            "commitments",
            [
                {
                    "commitment_id": f"CMT-{repair_id}",
                    "uscc": row.uscc,
                    "commitment_type": "credit_repair",
                    "matter": f"信用修复 {row.record_table}:{row.record_id}",
                    "made_on": row.applied_on,
                    "fulfilment": "pending",
                }
            ],
            source=f"repair-commitment-{repair_id}",
            today=on,
        )
        write_rows(
            lake,
            "repairs",
            [
                {
                    "repair_id": repair_id,
                    "uscc": row.uscc,
                    "record_table": row.record_table,
                    "record_id": row.record_id,
                    "applied_on": row.applied_on,
                    "decided_on": on,
                    "outcome": "approved",
                    "authority": row.department,
                }
            ],
            source=f"repair-{repair_id}",
            today=on,
        )
    if row.record_table == "list_entries":
        case = session.get(lists.ListCase, row.record_id)
        if case is not None and case.status in ("listed", "rectified"):
            lists.repaired(session, case.case_id, actor=actor, on=on)
    if tiers is not None:
        row.tier_after = tiers(row.uscc)
    MACHINE.record(
        session,
        actor=actor,
        object_id=repair_id,
        action="approve",
        before=before,
        after=after,
        on=on,
        details={"late": row.decide_due is not None and on > row.decide_due, "tier_before": row.tier_before},
    )
    return row


def reject(session: Session, repair_id: str, *, actor: Actor, on: date, reasons: str) -> Repair:
    """Reject (or refuse to accept) with reasons; the record keeps its publicity."""
    row = get(session, repair_id)
    after = MACHINE.next_state(repair_id, row.status, "reject")
    _check_day(row, on)
    if not reasons or not reasons.strip():
        raise RepairError(f"repair {repair_id}: reasons are required to reject")
    before = row.status
    row.status, row.decided_on, row.reasons, row.updated_at = after, on, reasons, instant(actor.at)
    MACHINE.record(
        session, actor=actor, object_id=repair_id, action="reject", before=before, after=after, on=on
    )
    return row


def list_repairs(session: Session, *, uscc: str | None = None, department: str | None = None) -> list[Repair]:
    """Applications in order, of one entity or handled by one department (if given)."""
    stmt = sa.select(Repair).order_by(Repair.applied_on, Repair.repair_id)
    if department is not None:
        stmt = stmt.where(Repair.department == department)
    if uscc is not None:
        stmt = stmt.where(Repair.uscc == uscc)
    return list(session.scalars(stmt))


def overdue(session: Session, *, on: date, department: str | None = None) -> list[dict[str, Any]]:
    """Open applications (of `department`, if given) past their acceptance or decision deadline on ``on``."""
    out = []
    for row in list_repairs(session, department=department):
        if row.status == "applied" and on > row.accept_due:
            out.append(("accept", row.accept_due, row))
        if row.status == "accepted" and row.decide_due is not None and on > row.decide_due:
            out.append(("decide", row.decide_due, row))
    return [
        {
            "repair_id": row.repair_id,
            "department": row.department,
            "uscc": row.uscc,
            "status": row.status,
            "deadline": which,
            "due": due,
            "working_days_late": working_days_between(due, on),
        }
        for which, due, row in out
    ]
