"""Point-in-time entity profiles: one pure LazyFrame → LazyFrame function per record family, keyed by USCC.

Every function takes the (lifecycle-applied) table and keyword-only ``as_of`` (and ``windows``), keeps only
facts dated strictly before ``as_of`` — an event dated on ``as_of`` is the future, because training scores
an entity as of the morning of its inspection — and ends with :func:`conform` against the family's schema
from :mod:`features.indicators`. A window of N days counts events dated in ``[as_of - N days, as_of)``.
``as_of`` may also be ``pl.col("as_of")`` when the table carries each row's event date (many events in one
pass, :func:`features.build.build_for_events`); the result is then keyed by (uscc, as_of).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from features.catalog import ENTITY_STATUSES, ENTITY_TYPES, INSPECTION_OUTCOMES
from features.indicators import (
    BLACK_LISTS,
    GRADE_ORDINAL,
    INDUSTRY_SECTIONS,
    LIST_LABELS,
    PENALTY_DAYS_CAP,
    SEVERITY_LABELS,
    WINDOWS,
    family_schema,
    make_catalog,
)
from features.lifecycle import RepairPolicy, list_entry_end

LONG = 1095  # the fixed window of the share/rate features


def conform(frame: pl.LazyFrame, schema: pl.Schema, *, name: str) -> pl.LazyFrame:
    """``frame`` with exactly ``schema``'s columns, order and dtypes, or a ValueError naming what is off."""
    have = frame.collect_schema()
    missing = [c for c in schema if c not in have]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; declared schema {list(schema)}")
    bad = [
        f"{c}: {have[c]} is not castable to {dt}"
        for c, dt in schema.items()
        if have[c] != dt and not (have[c].is_numeric() and dt.is_numeric()) and have[c] != pl.Null()
    ]
    if bad:
        raise ValueError(f"{name}: wrong dtypes: {'; '.join(bad)}")
    return frame.select(pl.col(c).cast(dt) for c, dt in schema.items())


AsOf = date | pl.Expr  # a date, or (for many events at once) the expression of a per-row ``as_of`` column


def _at(as_of: AsOf) -> pl.Expr:
    return pl.lit(as_of, dtype=pl.Date) if isinstance(as_of, date) else as_of


def _keys(as_of: AsOf) -> list[str]:
    """Group keys: one row per USCC, or per (USCC, as_of) when as_of is a column."""
    return ["uscc"] if isinstance(as_of, date) else ["uscc", "as_of"]


def _out(schema: pl.Schema, as_of: AsOf) -> pl.Schema:
    if isinstance(as_of, date):
        return schema
    return pl.Schema(
        {"uscc": pl.String(), "as_of": pl.Date(), **{c: d for c, d in schema.items() if c != "uscc"}}
    )


def _schema(family: str, windows: Sequence[int], as_of: AsOf) -> pl.Schema:
    return _out(family_schema(family, make_catalog(windows)), as_of)


def _days_before(as_of: AsOf, column: str) -> pl.Expr:
    return (_at(as_of) - pl.col(column)).dt.total_days()


def _in_window(column: str, as_of: AsOf, days: int) -> pl.Expr:
    # Rows are already cut to column < as_of; the window adds the lower bound.
    return pl.col(column) >= _at(as_of) - timedelta(days=days)


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int64)


def registration_profile(entities: pl.LazyFrame, *, as_of: AsOf) -> pl.LazyFrame:
    """Age, type, industry section, division, log capital and status of the entities established before
    ``as_of``."""
    closed_later = pl.col("closed_on").is_not_null() & (pl.col("closed_on") >= as_of)
    # The lake keeps the latest registration row: a closure dated on/after as_of is the future, so the
    # entity was still in business then (the status before a later closure is taken as active).
    status = pl.when(closed_later).then(pl.lit("active")).otherwise(pl.col("status"))
    return (
        entities.filter(pl.col("established_on") < as_of)
        .select(
            *_keys(as_of),
            age_days=_days_before(as_of, "established_on"),
            entity_type_code=_code(pl.col("entity_type"), ENTITY_TYPES),
            industry_section_code=_code(
                pl.col("industry").str.slice(0, 1).str.to_uppercase(), INDUSTRY_SECTIONS
            ),
            division_code=pl.col("division_code").str.strip_chars().cast(pl.Int64, strict=False),
            log_capital=pl.col("registered_capital").log1p(),
            status_code=_code(status, ENTITY_STATUSES),
        )
        .pipe(conform, _out(family_schema("registration"), as_of), name="registration_profile")
    )


def _code(expr: pl.Expr, values: Sequence[str]) -> pl.Expr:
    """1-based position of ``expr`` in ``values`` (null when absent): the documented integer code."""
    return expr.replace_strict(
        list(values), list(range(1, len(values) + 1)), default=None, return_dtype=pl.Int8
    )


def penalty_profile(
    penalties: pl.LazyFrame, *, as_of: AsOf, windows: Sequence[int] = WINDOWS
) -> pl.LazyFrame:
    """Penalty counts by severity and fine totals per window, and days since the last penalty."""
    known = penalties.filter(pl.col("decided_on") < as_of)
    money = pl.col("fine_amount").fill_null(0.0) + pl.col("confiscated_amount").fill_null(0.0)
    aggs: list[pl.Expr] = []
    for w in windows:
        inside = _in_window("decided_on", as_of, w)
        aggs.append(_count(inside).alias(f"penalties_n_{w}d"))
        aggs += [
            _count(inside & (pl.col("severity") == sev)).alias(f"penalties_{sev}_n_{w}d")
            for sev in SEVERITY_LABELS
        ]
        aggs.append(money.filter(inside).sum().alias(f"fines_sum_{w}d"))
    # Capped: the cap is also the value of an entity without penalties (build's fill), the least risky end.
    aggs.append(
        _days_before(as_of, "decided_on")
        .min()
        .clip(upper_bound=PENALTY_DAYS_CAP)
        .alias("penalties_days_since_last")
    )
    return (
        known.group_by(*_keys(as_of))
        .agg(aggs)
        .pipe(conform, _schema("penalties", windows, as_of), name="penalty_profile")
    )


def licence_profile(licences: pl.LazyFrame, *, as_of: AsOf, windows: Sequence[int] = WINDOWS) -> pl.LazyFrame:
    """Licences granted per window, licences valid at ``as_of`` and licences granted on a commitment (3
    years)."""
    known = licences.filter(pl.col("decided_on") < as_of)
    started = pl.coalesce("valid_from", "decided_on") < as_of
    not_ended = pl.col("valid_to").is_null() | (pl.col("valid_to") >= as_of)
    aggs = [_count(_in_window("decided_on", as_of, w)).alias(f"licences_n_{w}d") for w in windows]
    aggs += [
        _count(started & not_ended).alias("licences_valid_n"),
        _count(_in_window("decided_on", as_of, LONG) & pl.col("by_commitment")).alias(
            "licences_by_commitment_n_1095d"
        ),
    ]
    return (
        known.group_by(*_keys(as_of))
        .agg(aggs)
        .pipe(conform, _schema("licences", windows, as_of), name="licence_profile")
    )


def commitment_profile(
    commitments: pl.LazyFrame, *, as_of: AsOf, windows: Sequence[int] = WINDOWS
) -> pl.LazyFrame:
    """Commitments made and found breached per window; share of the last 3 years' commitments breached."""
    known = commitments.filter(pl.col("made_on") < as_of)
    # The fulfilment column holds today's state; a breach counts only once its determination date is past.
    breached_on = pl.coalesce("fulfilment_on", "due_on", "made_on")
    breached = (pl.col("fulfilment") == "breached") & (breached_on < as_of)
    aggs: list[pl.Expr] = []
    for w in windows:
        aggs.append(_count(_in_window("made_on", as_of, w)).alias(f"commitments_n_{w}d"))
        aggs.append(
            _count(breached & (breached_on >= _at(as_of) - timedelta(days=w))).alias(
                f"commitments_breached_n_{w}d"
            )
        )
    recent = _in_window("made_on", as_of, LONG)
    # No commitment in the window: 0 breached, not null (a null would go to a learned side of the trees).
    aggs.append(
        (_count(recent & breached) / _count(recent).cast(pl.Float64).replace(0.0, None))
        .fill_null(0.0)
        .alias("commitments_breached_share_1095d")
    )
    return (
        known.group_by(*_keys(as_of))
        .agg(aggs)
        .pipe(conform, _schema("commitments", windows, as_of), name="commitment_profile")
    )


def self_report_profile(
    self_reports: pl.LazyFrame, *, as_of: AsOf, windows: Sequence[int] = WINDOWS
) -> pl.LazyFrame:
    """Voluntary self-reports per window and the share of the last 3 years' reports verified before
    ``as_of``."""
    known = self_reports.filter(pl.col("reported_on") < as_of)
    verified = pl.col("verified").fill_null(False) & (pl.coalesce("verified_on", "reported_on") < as_of)
    recent = _in_window("reported_on", as_of, LONG)
    aggs = [_count(_in_window("reported_on", as_of, w)).alias(f"self_reports_n_{w}d") for w in windows]
    aggs.append(
        (_count(recent & verified) / _count(recent).cast(pl.Float64).replace(0.0, None)).alias(
            "self_reports_verified_share_1095d"
        )
    )
    return (
        known.group_by(*_keys(as_of))
        .agg(aggs)
        .pipe(conform, _schema("self_reports", windows, as_of), name="self_report_profile")
    )


def _ordinal(column: str) -> pl.Expr:
    return pl.col(column).replace_strict(GRADE_ORDINAL, default=None, return_dtype=pl.Int8)


def evaluation_profile(evaluations: pl.LazyFrame, *, as_of: AsOf) -> pl.LazyFrame:
    """Latest valid public-credit grade and the worst of the latest valid industry grades, as ordinals
    A=1…D=4; the scores behind them: latest valid public-credit score, its mean over every past round
    (expired ones too: each round is a noisy reading of the same entity), its change since the previous
    round, and the lowest of the latest valid industry scores."""
    known = evaluations.filter(pl.col("evaluated_on") < as_of).with_columns(
        ordinal=_ordinal("grade"),
        domain=pl.col("industry_domain").fill_null(""),
        valid=pl.col("valid_until").is_null() | (pl.col("valid_until") >= as_of),
    )
    # Latest per scheme (and industry domain); same-day ties resolved by the id so the result is stable
    # (rows sorted first: a group keeps its rows' order, so filter-then-last is the latest that qualifies).
    latest = (
        known.sort("evaluated_on", "evaluation_id")
        .group_by(*_keys(as_of), "scheme", "domain")
        .agg(
            pl.col("ordinal").filter(pl.col("valid")).last(),
            pl.col("score").filter(pl.col("valid")).last(),
            score_mean=pl.col("score").mean(),
            # Latest minus previous round with a score, while a round of this scheme is still valid.
            score_change=pl.when(pl.col("valid").any())
            .then(pl.col("score").drop_nulls().diff().last())
            .otherwise(None),
        )
    )
    pc = pl.col("scheme") == "public_credit"
    ind = pl.col("scheme") == "industry"
    return (
        latest.group_by(*_keys(as_of))
        .agg(
            public_credit_grade=pl.col("ordinal").filter(pc).max(),
            industry_grade_worst=pl.col("ordinal").filter(ind).max(),
            public_credit_score=pl.col("score").filter(pc).max(),
            public_credit_score_mean=pl.col("score_mean").filter(pc).max(),
            public_credit_score_change=pl.col("score_change").filter(pc).max(),
            industry_score_lowest=pl.col("score").filter(ind).min(),
        )
        .pipe(conform, _out(family_schema("evaluations"), as_of), name="evaluation_profile")
    )


def list_profile(
    list_entries: pl.LazyFrame, *, as_of: AsOf, policy: RepairPolicy = RepairPolicy()
) -> pl.LazyFrame:
    """Active status and days listed per list at ``as_of``; black-list entries in the last 3 years.

    ``list_entries`` must carry ``repaired_on`` (see :func:`features.lifecycle.apply_lifecycle`).
    """
    known = list_entries.filter(pl.col("listed_on") < as_of).with_columns(end=list_entry_end(policy=policy))
    # An exit dated on as_of has not happened yet as of that morning.
    active = pl.col("end").is_null() | (pl.col("end") >= as_of)
    aggs: list[pl.Expr] = []
    for key in LIST_LABELS:
        on = active & (pl.col("list_type") == key)
        aggs.append(on.any().cast(pl.Int8).alias(f"{key}_active"))
        aggs.append(
            _days_before(as_of, "listed_on").filter(on).max().fill_null(0).alias(f"{key}_days_listed")
        )
    aggs.append(
        _count(_in_window("listed_on", as_of, LONG) & pl.col("list_type").is_in(BLACK_LISTS)).alias(
            "blacklist_entries_n_1095d"
        )
    )
    return (
        known.group_by(*_keys(as_of))
        .agg(aggs)
        .pipe(conform, _out(family_schema("lists"), as_of), name="list_profile")
    )


def interview_profile(
    interviews: pl.LazyFrame, *, as_of: AsOf, windows: Sequence[int] = WINDOWS
) -> pl.LazyFrame:
    """Credit interviews (约谈) per window."""
    return (
        interviews.filter(pl.col("held_on") < as_of)
        .group_by(*_keys(as_of))
        .agg(_count(_in_window("held_on", as_of, w)).alias(f"interviews_n_{w}d") for w in windows)
        .pipe(conform, _schema("interviews", windows, as_of), name="interview_profile")
    )


def repair_profile(repairs: pl.LazyFrame, *, as_of: AsOf) -> pl.LazyFrame:
    """Credit repair applications and approvals (decided before ``as_of``) in the last 3 years."""
    approved = (
        (pl.col("outcome") == "approved")
        & pl.col("decided_on").is_not_null()
        & (pl.col("decided_on") < as_of)
        & _in_window("decided_on", as_of, LONG)
    )
    return (
        repairs.filter(pl.col("applied_on") < as_of)
        .group_by(*_keys(as_of))
        .agg(
            repairs_applied_n_1095d=_count(_in_window("applied_on", as_of, LONG)),
            repairs_approved_n_1095d=_count(approved),
        )
        .pipe(conform, _out(family_schema("repairs"), as_of), name="repair_profile")
    )


def objection_profile(objections: pl.LazyFrame, *, as_of: AsOf) -> pl.LazyFrame:
    """Objections filed and upheld (3 years), records under objection (异议处理中) and corrected at
    ``as_of``."""
    filed = objections.filter(pl.col("filed_on") < as_of)
    decided = pl.col("decided_on").is_not_null() & (pl.col("decided_on") < as_of)
    upheld = decided & (pl.col("outcome") == "upheld")
    per_record = filed.group_by(*_keys(as_of), "record_table", "record_id").agg(
        filed_n=_count(_in_window("filed_on", as_of, LONG)),
        upheld_n=_count(upheld & _in_window("decided_on", as_of, LONG)),
        pending=(~decided).any(),
        corrected=(upheld & (pl.col("resolution") == "corrected")).any(),
    )
    return (
        per_record.group_by(*_keys(as_of))
        .agg(
            objections_n_1095d=pl.col("filed_n").sum(),
            objections_upheld_n_1095d=pl.col("upheld_n").sum(),
            records_under_objection_n=_count(pl.col("pending")),
            records_corrected_n=_count(pl.col("corrected")),
        )
        .pipe(conform, _schema("objections", WINDOWS, as_of), name="objection_profile")
    )


def inspection_profile(inspections: pl.LazyFrame, *, as_of: AsOf) -> pl.LazyFrame:
    """Inspection history before ``as_of``: count, violation rate, serious count (3 years), recency and last
    outcome."""
    known = inspections.filter(pl.col("inspected_on") < as_of)
    recent = _in_window("inspected_on", as_of, LONG)
    violation = pl.col("outcome").is_in(["violation", "serious_violation"])
    n = _count(recent)
    return (
        known.group_by(*_keys(as_of))
        .agg(
            inspections_n_1095d=n,
            inspections_violation_rate_1095d=_count(recent & violation)
            / n.cast(pl.Float64).replace(0.0, None),
            inspections_serious_n_1095d=_count(recent & (pl.col("outcome") == "serious_violation")),
            inspections_days_since_last=_days_before(as_of, "inspected_on").min(),
            inspections_last_outcome_code=_code(pl.col("outcome"), INSPECTION_OUTCOMES)
            .sort_by("inspected_on", "inspection_id")
            .last(),
        )
        .pipe(conform, _out(family_schema("inspections"), as_of), name="inspection_profile")
    )
