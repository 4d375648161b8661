"""Early warning (信用风险预警): the rule catalog, the evaluation of two score runs, and the warnings kept.

:func:`evaluate` takes the previous and the current score run (``uscc, probability, tier``), the record lake
(plus the department's own decisions, :func:`with_decisions`), the window ``(previous as_of, current as_of]``
and the rules of ``warnings.toml`` (:func:`load_policy`), and returns one row per entity and rule that fires:
``uscc, rule, evidence`` (a JSON object: record ids and dates, the probabilities before and after, the
linked severe party's USCC — never a person key or a person's name) and the ``department`` that receives it
(the longest ``[departments.prefixes]`` prefix of the entity's registration division, else the default).
It is pure and its rows come sorted by (uscc, rule).

:func:`record` keeps them as :class:`Warning` rows, one per (run, entity, rule): evaluating the same run
again adds nothing. Each new warning is also written to the event outbox
(:class:`~supervision.lifecycle.lists.ListEvent` of kind ``warning``) that webhook subscribers receive.
open → acknowledged → closed (closing needs a note); every change is audited (:data:`MACHINE`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import BY_NAME, GRADES, LIST_TYPES, RELATION_TYPES, SEVERITIES
from features.graph import PERSON_ROLES, relations_in_force
from features.lifecycle import list_entry_end
from supervision.lifecycle import commitments, lists
from supervision.lifecycle.regimes import CONFIDENCES, PolicyError
from supervision.lifecycle.workflow import Actor, NotFound, StateMachine, instant
from supervision.platform.db import Base
from supervision.platform.errors import DomainError

__all__ = [
    "MACHINE",
    "NOTE_MAX",
    "RULES",
    "STATUSES",
    "Rule",
    "Warning",
    "WarningError",
    "WarningPolicy",
    "acknowledge",
    "close",
    "department_of",
    "evaluate",
    "get",
    "load_policy",
    "record",
    "with_decisions",
]

RULES = (
    "probability_rise",
    "tier_up",
    "serious_penalty",
    "abnormal_listing",
    "court_judgment",
    "severe_link",
    "commitment_breach",
)
STATUSES = ("open", "acknowledged", "closed")
NOTE_MAX = 2000
MACHINE = StateMachine(
    "warning",
    {"open": {"acknowledge": "acknowledged", "close": "closed"}, "acknowledged": {"close": "closed"}},
)
EVENT_KIND = "warning"
OUTPUT = pl.Schema({"uscc": pl.String, "rule": pl.String, "evidence": pl.String, "department": pl.String})


class WarningError(DomainError, ValueError):
    """A warning step that cannot be taken as asked (no note, a note too long)."""


# ------------------------------------------------------------------------------------------------ policy
@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the catalog: its parameters, where they come from and how sure that is."""

    name: str
    params: Mapping[str, Any]
    source: str
    confidence: str


@dataclass(frozen=True, slots=True)
class WarningPolicy:
    """The rules (all of :data:`RULES`) and the department mapping (prefix → department, default)."""

    rules: Mapping[str, Rule]
    prefixes: Mapping[str, str]
    default_department: str
    departments_source: str

    def param(self, rule: str, name: str) -> Any:
        return self.rules[rule].params[name]

    def department_of(self, division_code: str | None) -> str:
        return department_of(division_code, self.prefixes, self.default_department)


# The parameters each rule takes, and a check of each (what it must be, to name it in the error).
_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "probability_rise": {
        "min_rise": ("a number in [0, 1)", lambda v: isinstance(v, int | float) and 0 <= v < 1)
    },
    "tier_up": {"into": (f"a non-empty list of tiers {list(GRADES)}", lambda v: _subset(v, GRADES))},
    "serious_penalty": {
        "severities": (f"a non-empty list of severities {list(SEVERITIES)}", lambda v: _subset(v, SEVERITIES))
    },
    "abnormal_listing": {
        "list_types": (f"a non-empty list of list types {list(LIST_TYPES)}", lambda v: _subset(v, LIST_TYPES))
    },
    "court_judgment": {
        "list_types": (f"a non-empty list of list types {list(LIST_TYPES)}", lambda v: _subset(v, LIST_TYPES))
    },
    "severe_link": {
        "list_types": (
            f"a non-empty list of list types {list(LIST_TYPES)}",
            lambda v: _subset(v, LIST_TYPES),
        ),
        "via": (
            f"a non-empty list of relation types {list(RELATION_TYPES)}",
            lambda v: _subset(v, RELATION_TYPES),
        ),
    },
    "commitment_breach": {},
}


def _subset(value: Any, allowed: Sequence[str]) -> bool:
    return isinstance(value, list) and bool(value) and all(v in allowed for v in value)


def _source(entry: Mapping[str, Any], where: str) -> tuple[str, str]:
    source, confidence = entry.get("source"), entry.get("confidence")
    if not isinstance(source, str) or not source.strip():
        raise PolicyError(f"{where}.source: required (where the value comes from)", field=f"{where}.source")
    if confidence not in CONFIDENCES:
        raise PolicyError(
            f"{where}.confidence: {confidence!r}, expected one of {', '.join(CONFIDENCES)}",
            field=f"{where}.confidence",
        )
    return source, str(confidence)


def parse_policy(text: str, origin: str = "warnings.toml") -> WarningPolicy:
    """The policy of ``text``; :class:`PolicyError` naming the key (``rules.tier_up.into``) otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"rules", "departments"})
    if unknown:
        raise PolicyError(f"{origin}: unknown key(s) {', '.join(unknown)}", field=unknown[0])
    table = data.get("rules")
    if not isinstance(table, dict):
        raise PolicyError(f"{origin}: [rules] is required", field="rules")
    extra = sorted(set(table) - set(RULES))
    if extra:
        raise PolicyError(
            f"{origin}: unknown rule(s) rules.{', rules.'.join(extra)}; known: {', '.join(RULES)}",
            field=f"rules.{extra[0]}",
        )
    rules: dict[str, Rule] = {}
    for name in RULES:
        where = f"rules.{name}"
        entry = table.get(name)
        if not isinstance(entry, dict):
            raise PolicyError(f"{origin}: [{where}] is missing", field=where)
        wanted = _PARAMS[name]
        extra = sorted(set(entry) - set(wanted) - {"source", "confidence"})
        if extra:
            raise PolicyError(f"{origin}: unknown key {where}.{extra[0]}", field=f"{where}.{extra[0]}")
        params = {}
        for key, (what, ok) in wanted.items():
            if key not in entry or isinstance(entry[key], bool) or not ok(entry[key]):
                raise PolicyError(
                    f"{origin}: {where}.{key} is {entry.get(key)!r}, expected {what}", field=f"{where}.{key}"
                )
            params[key] = tuple(entry[key]) if isinstance(entry[key], list) else float(entry[key])
        rules[name] = Rule(name, params, *_source(entry, f"{origin}: {where}"))
    deps = data.get("departments")
    if not isinstance(deps, dict):
        raise PolicyError(f"{origin}: [departments] is required", field="departments")
    extra = sorted(set(deps) - {"default", "prefixes", "source", "confidence"})
    if extra:
        raise PolicyError(f"{origin}: unknown key departments.{extra[0]}", field=f"departments.{extra[0]}")
    default = deps.get("default")
    if not isinstance(default, str) or not 1 <= len(default.strip()) <= 128:
        raise PolicyError(
            f"{origin}: departments.default is {default!r}, expected a department name (1-128 characters)",
            field="departments.default",
        )
    prefixes = deps.get("prefixes", {})
    if not isinstance(prefixes, dict):
        raise PolicyError(f"{origin}: departments.prefixes must be a table", field="departments.prefixes")
    for prefix, name in prefixes.items():
        if not (prefix.isdigit() and 1 <= len(prefix) <= 6) or not isinstance(name, str) or not name.strip():
            raise PolicyError(
                f"{origin}: departments.prefixes.{prefix} = {name!r}: expected 1-6 digits of a division code "
                "and a department name",
                field=f"departments.prefixes.{prefix}",
            )
    source, _ = _source(deps, f"{origin}: departments")
    return WarningPolicy(rules, dict(prefixes), default, source)


def load_policy(path: Path | None = None) -> WarningPolicy:
    """The policy of `path`, else the shipped ``supervision/monitoring/warnings.toml``."""
    if path is not None:
        return parse_policy(path.read_text(encoding="utf-8"), str(path))
    text = resources.files("supervision.monitoring").joinpath("warnings.toml").read_text(encoding="utf-8")
    return parse_policy(text)


def department_of(division_code: str | None, prefixes: Mapping[str, str], default: str) -> str:
    """The department of the longest prefix of `division_code` in `prefixes`, else `default`."""
    code = division_code or ""
    for n in range(len(code), 0, -1):
        if code[:n] in prefixes:
            return prefixes[code[:n]]
    return default


# ------------------------------------------------------------------------------- the department's decisions
def with_decisions(sources: Mapping[str, pl.LazyFrame], session: Session) -> dict[str, pl.LazyFrame]:
    """`sources` with the list cases and commitment breaches decided here added to ``list_entries`` and
    ``commitments`` (a decision is written to the lake only when the door passes one: it may be missing
    there). A row already in the lake (the same entry or commitment id) is kept once."""
    out = dict(sources)
    cases = session.execute(
        sa.select(
            lists.ListCase.case_id,
            lists.ListCase.uscc,
            lists.ListCase.list_type,
            lists.ListCase.listed_on,
            lists.ListCase.max_end,
            lists.ListCase.exited_on,
        ).where(lists.ListCase.listed_on.is_not(None))
    ).all()
    entries = BY_NAME["list_entries"]
    if cases:
        frame = pl.DataFrame(
            [
                {
                    "entry_id": c[0],
                    "uscc": c[1],
                    "list_type": c[2],
                    "listed_on": c[3],
                    "planned_end": c[4],
                    "exited_on": c[5],
                }
                for c in cases
            ]
        )
        out["list_entries"] = _union(out["list_entries"], frame, "entry_id", entries.schema)
    breached = session.execute(
        sa.select(
            commitments.Commitment.commitment_id,
            commitments.Commitment.uscc,
            commitments.Commitment.determined_on,
        ).where(commitments.Commitment.status.in_(("breached", "interviewed")))
    ).all()
    if breached:
        frame = pl.DataFrame(
            [
                {"commitment_id": b[0], "uscc": b[1], "fulfilment": "breached", "fulfilment_on": b[2]}
                for b in breached
            ]
        )
        out["commitments"] = _union(out["commitments"], frame, "commitment_id", BY_NAME["commitments"].schema)
    return out


def _union(lake: pl.LazyFrame, decided: pl.DataFrame, key: str, schema: pl.Schema) -> pl.LazyFrame:
    extra = decided.lazy().with_columns(
        [
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in schema.items()
            if name not in decided.columns
        ]
    )
    columns = list(lake.collect_schema().names())
    extra = extra.select([pl.col(c).cast(lake.collect_schema()[c]) for c in columns])
    known = lake.select(key)
    return pl.concat([lake, extra.join(known, on=key, how="anti")], how="vertical")


# ------------------------------------------------------------------------------------------------ evaluation
def _evidence(frame: pl.DataFrame, rule: str) -> pl.DataFrame:
    """Rows (uscc, evidence dict) → (uscc, rule, evidence JSON), one row per uscc."""
    rows = []
    for uscc, group in sorted(frame.group_by("uscc"), key=lambda kv: str(kv[0][0])):
        items = sorted(
            group.drop("uscc").to_dicts(), key=lambda d: json.dumps(d, sort_keys=True, default=str)
        )
        rows.append({"uscc": str(uscc[0]), "rule": rule, "evidence": _json({"records": items})})
    return pl.DataFrame(rows, schema={"uscc": pl.String, "rule": pl.String, "evidence": pl.String})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=lambda d: d.isoformat())


def _in_window(column: str, window: tuple[date, date]) -> pl.Expr:
    start, end = window
    return pl.col(column).is_not_null() & (pl.col(column) > start) & (pl.col(column) <= end)


def _scores(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    return current.select("uscc", "probability", "tier").join(
        previous.select("uscc", pl.col("probability").alias("before"), pl.col("tier").alias("tier_before")),
        on="uscc",
        how="inner",
    )


def _probability_rise(both: pl.DataFrame, policy: WarningPolicy) -> pl.DataFrame:
    rise = policy.param("probability_rise", "min_rise")
    # Rounded first: 0.40 - 0.30 is 0.10000000000000003 in floating point, and "more than 0.10" means more.
    hit = both.filter((pl.col("probability") - pl.col("before")).round(9) > rise).sort("uscc")
    rows = [
        {
            "uscc": r["uscc"],
            "rule": "probability_rise",
            "evidence": _json(
                {
                    "before": round(r["before"], 6),
                    "after": round(r["probability"], 6),
                    "rise": round(r["probability"] - r["before"], 6),
                    "threshold": rise,
                }
            ),
        }
        for r in hit.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema={"uscc": pl.String, "rule": pl.String, "evidence": pl.String})


def _tier_up(both: pl.DataFrame, policy: WarningPolicy) -> pl.DataFrame:
    into = list(policy.param("tier_up", "into"))
    rank = {g: i for i, g in enumerate(GRADES)}
    hit = both.filter(pl.col("tier").is_in(into)).sort("uscc")
    rows = [
        {
            "uscc": r["uscc"],
            "rule": "tier_up",
            "evidence": _json(
                {
                    "before": r["tier_before"],
                    "after": r["tier"],
                    "probability_after": round(r["probability"], 6),
                }
            ),
        }
        for r in hit.iter_rows(named=True)
        if rank.get(r["tier"], -1) > rank.get(r["tier_before"], 99)
    ]
    return pl.DataFrame(rows, schema={"uscc": pl.String, "rule": pl.String, "evidence": pl.String})


def _records(
    sources: Mapping[str, pl.LazyFrame],
    rule: str,
    table: str,
    condition: pl.Expr,
    day: str,
    columns: Sequence[str],
    window: tuple[date, date],
) -> pl.DataFrame:
    found = (
        sources[table]
        .filter(condition & _in_window(day, window))
        .select("uscc", *columns, day)
        .unique()
        .collect()
    )
    return _evidence(found, rule)


def _links(sources: Mapping[str, pl.LazyFrame], *, as_of: date, policy: WarningPolicy) -> pl.DataFrame:
    """(uscc, severe_uscc, via) of every link in force at `as_of` to a party active then on the rule's lists:
    the graph's edges (a person shared in a role of `via`, an investment either way), never to oneself."""
    list_types = list(policy.param("severe_link", "list_types"))
    via = set(policy.param("severe_link", "via"))
    end = list_entry_end()
    entries = sources["list_entries"]
    if "repaired_on" not in entries.collect_schema().names():  # the raw lake (no lifecycle applied)
        entries = entries.with_columns(repaired_on=pl.lit(None, dtype=pl.Date))
    severe = (
        entries.filter(
            pl.col("list_type").is_in(list_types)
            & (pl.col("listed_on") < as_of)
            & (end.is_null() | (end >= as_of))
        )
        .select(pl.col("uscc").alias("severe_uscc"))
        .unique()
    )
    relations = sources["relations"]
    frames = []
    roles = [r for r in PERSON_ROLES if r in via]
    if roles:
        persons = (
            relations_in_force(relations, as_of=as_of, roles=roles)
            .filter(pl.col("person_key").is_not_null())
            .select("uscc", "person_key", "relation_type")
        )
        theirs = persons.join(severe, left_on="uscc", right_on="severe_uscc", how="semi").select(
            pl.col("uscc").alias("severe_uscc"), "person_key"
        )
        frames.append(
            persons.join(theirs, on="person_key")
            .select("uscc", "severe_uscc", pl.col("relation_type").alias("via"))
            .filter(pl.col("uscc") != pl.col("severe_uscc"))
        )
    if "investment" in via:
        invest = (
            relations_in_force(relations, as_of=as_of, roles=("investment",))
            .filter(pl.col("related_uscc").is_not_null())
            .select("uscc", "related_uscc")
        )
        both_ways = pl.concat(
            [
                invest.select("uscc", pl.col("related_uscc").alias("severe_uscc")),
                invest.select(pl.col("related_uscc").alias("uscc"), pl.col("uscc").alias("severe_uscc")),
            ]
        )
        frames.append(
            both_ways.join(severe, on="severe_uscc", how="semi")
            .filter(pl.col("uscc") != pl.col("severe_uscc"))
            .with_columns(via=pl.lit("investment"))
        )
    if not frames:
        return pl.DataFrame(schema={"uscc": pl.String, "severe_uscc": pl.String, "via": pl.String})
    return pl.concat(frames).unique().collect()


def _severe_link(
    sources: Mapping[str, pl.LazyFrame], window: tuple[date, date], policy: WarningPolicy
) -> pl.DataFrame:
    before = _links(sources, as_of=window[0], policy=policy).select("uscc", "severe_uscc").unique()
    now = _links(sources, as_of=window[1], policy=policy)
    new = (
        now.join(before, on=["uscc", "severe_uscc"], how="anti")
        .group_by("uscc", "severe_uscc")
        .agg(via=pl.col("via").unique().sort())
    )
    return _evidence(new, "severe_link")


def evaluate(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    sources: Mapping[str, pl.LazyFrame],
    window: tuple[date, date],
    policy: WarningPolicy,
) -> pl.DataFrame:
    """The warnings between two runs: ``uscc, rule, evidence`` (JSON), ``department``; sorted (uscc, rule).

    `previous` / `current`: the score runs (``uscc, probability, tier``); `window`: (previous as_of, current
    as_of] for the record rules; `sources`: the lake's tables (with :func:`with_decisions`)."""
    start, end = window
    if start >= end:
        raise WarningError(
            f"window ({start.isoformat()}, {end.isoformat()}]: "
            "the previous run must be before the current one",
            field="window",
        )
    both = _scores(previous, current)
    lists_of = policy.param
    frames = [
        _probability_rise(both, policy),
        _tier_up(both, policy),
        _records(
            sources,
            "serious_penalty",
            "penalties",
            pl.col("severity").is_in(list(lists_of("serious_penalty", "severities"))),
            "decided_on",
            ("decision_no", "severity"),
            window,
        ),
        _records(
            sources,
            "abnormal_listing",
            "list_entries",
            pl.col("list_type").is_in(list(lists_of("abnormal_listing", "list_types"))),
            "listed_on",
            ("entry_id", "list_type"),
            window,
        ),
        _records(
            sources,
            "court_judgment",
            "list_entries",
            pl.col("list_type").is_in(list(lists_of("court_judgment", "list_types"))),
            "listed_on",
            ("entry_id", "list_type"),
            window,
        ),
        _severe_link(sources, window, policy),
        _records(
            sources,
            "commitment_breach",
            "commitments",
            pl.col("fulfilment") == "breached",
            "fulfilment_on",
            ("commitment_id",),
            window,
        ),
    ]
    found = pl.concat(frames)
    divisions = (
        sources["entities"]
        .select("uscc", "division_code")
        .collect()
        .unique("uscc", keep="last", maintain_order=True)
    )
    codes = dict(zip(divisions["uscc"].to_list(), divisions["division_code"].to_list(), strict=True))
    order = {r: i for i, r in enumerate(RULES)}
    out = found.with_columns(
        department=pl.col("uscc").map_elements(
            lambda u: policy.department_of(codes.get(u)), return_dtype=pl.String
        ),
        _order=pl.col("rule").replace_strict(order, return_dtype=pl.Int32),
    )
    return out.sort("uscc", "_order").drop("_order").select(list(OUTPUT))


# ------------------------------------------------------------------------------------------------ the table
class Warning(Base):
    """One warning: an entity, a rule that fired between two runs, its evidence and its handling."""

    __tablename__ = "warnings"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name="status"),
        sa.UniqueConstraint("run_as_of", "uscc", "rule"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_as_of: Mapped[date] = mapped_column(sa.Date, index=True)
    previous_as_of: Mapped[date] = mapped_column(sa.Date)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    rule: Mapped[str] = mapped_column(sa.String(32), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200))
    acknowledged_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(sa.String(200))
    closed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(sa.Text)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


def get(session: Session, warning_id: int) -> Warning:
    row = session.get(Warning, warning_id)
    if row is None:
        raise NotFound(f"warning {warning_id} not found")
    return row


def record(
    session: Session,
    found: pl.DataFrame,
    *,
    run_as_of: date,
    previous_as_of: date,
    actor: Actor,
) -> list[Warning]:
    """Keep the rows of :func:`evaluate` not kept yet for this run (one per run, entity and rule), each with
    its outbox event; the new warnings, in the frame's order."""
    at = instant(actor.at)
    kept = {
        (uscc, rule)
        for uscc, rule in session.execute(
            sa.select(Warning.uscc, Warning.rule).where(Warning.run_as_of == run_as_of)
        )
    }
    new = []
    for row in found.iter_rows(named=True):
        if (row["uscc"], row["rule"]) in kept:
            continue
        warning = Warning(
            run_as_of=run_as_of,
            previous_as_of=previous_as_of,
            uscc=row["uscc"],
            rule=row["rule"],
            evidence=json.loads(row["evidence"]),
            department=row["department"],
            status="open",
            created_at=at,
        )
        session.add(warning)
        new.append(warning)
    session.flush()
    for warning in new:
        session.add(
            lists.ListEvent(
                at=at,
                event="opened",
                kind=EVENT_KIND,
                case_id=f"warning:{warning.id}",
                uscc=warning.uscc,
                list_type="",
                on=run_as_of,
                reason=None,
                data=event_data(warning),
            )
        )
        MACHINE.record(
            session,
            actor=actor,
            object_id=str(warning.id),
            action="open",
            before=None,
            after="open",
            on=run_as_of,
            details={"uscc": warning.uscc, "rule": warning.rule, "department": warning.department},
        )
    session.flush()
    return new


def event_data(warning: Warning) -> dict[str, Any]:
    """What a subscriber receives of a warning (the evidence holds no person key nor a person's name)."""
    return {
        "warning_id": warning.id,
        "rule": warning.rule,
        "department": warning.department,
        "run_as_of": warning.run_as_of.isoformat(),
        "previous_as_of": warning.previous_as_of.isoformat(),
        "evidence": warning.evidence,
    }


def acknowledge(session: Session, warning_id: int, *, actor: Actor) -> Warning:
    """open → acknowledged (the department has seen it)."""
    row = get(session, warning_id)
    at = instant(actor.at)
    after = MACHINE.next_state(str(warning_id), row.status, "acknowledge")
    before, row.status, row.acknowledged_by, row.acknowledged_at = row.status, after, actor.name, at
    MACHINE.record(
        session,
        actor=actor,
        object_id=str(warning_id),
        action="acknowledge",
        before=before,
        after=after,
        on=at.date(),
    )
    return row


def close(session: Session, warning_id: int, *, actor: Actor, note: str) -> Warning:
    """open or acknowledged → closed, with the note saying what was done (required, at most 2000 chars)."""
    text = (note or "").strip()
    if not text:
        raise WarningError(f"warning {warning_id}: note is required to close a warning", field="note")
    if len(text) > NOTE_MAX:
        raise WarningError(
            f"warning {warning_id}: note has {len(text)} characters, at most {NOTE_MAX}", field="note"
        )
    row = get(session, warning_id)
    at = instant(actor.at)
    after = MACHINE.next_state(str(warning_id), row.status, "close")
    before = row.status
    row.status, row.closed_by, row.closed_at, row.note = after, actor.name, at, text
    MACHINE.record(
        session,
        actor=actor,
        object_id=str(warning_id),
        action="close",
        before=before,
        after=after,
        on=at.date(),
        details={"note": text},
    )
    return row
