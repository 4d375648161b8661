"""Public credit records from latent risk: licences, penalties, commitments, lists, repairs, objections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features import uscc as uscc_mod
from features.catalog import DOMAINS
from features.synth import lexicon
from features.synth.inspections import Inspections
from features.synth.population import Population, Timeline

_STRICT_DOMAINS = {"food", "drug", "special_equipment"}  # repair only after ≥ 1 year (domain-rules §4.2)


def authority_codes(prefix: str, salt: int) -> pl.Series:
    """A valid USCC for each division's authority of one kind (``11`` = 机关), fixed by ``salt``."""
    codes = []
    for i, d in enumerate(lexicon.DIVISIONS):
        body = f"{(salt * 131 + i * 7919) % 10**8:08d}"
        org = body + uscc_mod.org_code_check_digit(body)
        codes.append(uscc_mod.complete(prefix + d.code + org))
    return pl.Series(codes, dtype=pl.String)


@dataclass(frozen=True, slots=True)
class Authorities:
    """Per division (indexing with division numbers gathers): market regulator, approval bureau, court."""

    samr: pl.Series
    samr_uscc: pl.Series
    approval: pl.Series
    approval_uscc: pl.Series
    court: pl.Series

    @classmethod
    def build(cls) -> Authorities:
        names = [d.name for d in lexicon.DIVISIONS]
        court = []
        for d in lexicon.DIVISIONS:
            if d.code in ("320900", "320971"):
                court.append("江苏省盐城市中级人民法院")
            else:
                court.append(d.name + "人民法院")
        return cls(
            samr=pl.Series([f"{n}市场监督管理局" for n in names]),
            samr_uscc=authority_codes("11", 1),
            approval=pl.Series([f"{n}行政审批局" for n in names]),
            approval_uscc=authority_codes("11", 2),
            court=pl.Series(court),
        )


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def _opt_dates(days: np.ndarray, present: np.ndarray) -> pl.Series:
    return pl.select(pl.when(pl.Series(present)).then(_dates(days)).otherwise(None)).to_series()


def _opt_str(values: np.ndarray | pl.Series, present: np.ndarray) -> pl.Series:
    """Strings where ``present``, nulls elsewhere (numpy has no string null)."""
    series = values if isinstance(values, pl.Series) else pl.Series(values.astype(str), dtype=pl.String)
    return pl.select(pl.when(pl.Series(present)).then(series).otherwise(None)).to_series()


def _rep(value: str, m: int) -> pl.Series:
    """One string ``m`` times, built in polars (a numpy string array costs a Python object per row)."""
    return pl.repeat(value, m, dtype=pl.String, eager=True)


def _pick(choices: list[str] | tuple[str, ...], idx: np.ndarray) -> pl.Series:
    """``choices[idx]`` as a string Series."""
    return pl.Series(list(choices), dtype=pl.String).gather(idx)


def _numbered(frame: pl.DataFrame, *, column: str, prefix: str, by: str, width: int = 10) -> pl.DataFrame:
    """Sort by date, code and original row (stable, no ties left) and number the rows ``prefix000…``."""
    return (
        frame.with_row_index("_row")
        .sort([by, "_row"])
        .with_columns(
            pl.format(
                "{}{}", pl.lit(prefix), pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(width)
            ).alias(column)
        )
        .drop("_row")
    )


@dataclass(frozen=True, slots=True)
class Occurrences:
    entity: np.ndarray
    period: np.ndarray
    day: np.ndarray


def occurrences(rng: np.random.Generator, pop: Population, tl: Timeline, rate: np.ndarray) -> Occurrences:
    """Poisson counts per entity-year (``rate`` per open year) with uniform days while the entity is open."""
    lo = np.maximum(tl.bounds[None, :-1], pop.established[:, None]).astype(np.int64)
    hi = np.minimum(np.minimum(tl.bounds[None, 1:], pop.closed[:, None]), tl.end + 1).astype(np.int64)
    width = np.maximum(hi - lo, 0)
    exposure = width / np.diff(tl.bounds)[None, :]
    counts = rng.poisson(rate * exposure)
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    years = tl.years
    entity, period = flat // years, (flat % years).astype(np.int16)
    day = lo.ravel()[flat] + np.floor(rng.random(len(flat)) * width.ravel()[flat]).astype(np.int64)
    return Occurrences(entity=entity, period=period, day=day)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Records:
    """Every event table as a source frame (catalog columns in catalog order)."""

    licences: pl.DataFrame
    penalties: pl.DataFrame
    commitments: pl.DataFrame
    self_reports: pl.DataFrame
    evaluations: pl.DataFrame
    list_entries: pl.DataFrame
    interviews: pl.DataFrame
    repairs: pl.DataFrame
    objections: pl.DataFrame


def build_records(
    rngs: dict[str, np.random.Generator],
    pop: Population,
    tl: Timeline,
    insp: Inspections,
    legal_rep_name: pl.Series,
) -> Records:
    auth = Authorities.build()
    risk = _sigmoid(pop.logit.astype(np.float64))  # (n, years)
    licences = _licences(rngs["licences"], pop, tl, auth)
    penalties, pen = _penalties(rngs["penalties"], pop, tl, insp, auth, risk, legal_rep_name)
    lists, severe, abnormal = _lists(rngs["lists"], pop, tl, auth, risk, pen)
    repairs, repair_commit = _repairs(rngs["repairs"], pop, tl, auth, risk, pen, severe, abnormal)
    commitments = _commitments(rngs["commitments"], pop, tl, risk, licences, repair_commit)
    interviews = _interviews(rngs["interviews"], pop, tl, auth, risk, pen, severe)
    objections = _objections(rngs["objections"], pop, tl, pen, insp)
    return Records(
        licences=licences.drop("_entity"),
        penalties=penalties,
        commitments=commitments,
        self_reports=_self_reports(rngs["self_reports"], pop, tl, risk),
        evaluations=_evaluations(rngs["evaluations"], pop, tl, auth),
        list_entries=lists,
        interviews=interviews,
        repairs=repairs,
        objections=objections,
    )


def _licences(rng: np.random.Generator, pop: Population, tl: Timeline, auth: Authorities) -> pl.DataFrame:
    occ = occurrences(rng, pop, tl, np.full(pop.logit.shape, 1.1))
    # Newly opened businesses take out their licence within weeks of registration.
    new = np.flatnonzero((pop.established >= tl.start) & (rng.random(pop.n) < 0.7))
    new_day = np.minimum(pop.established[new] + rng.integers(3, 60, len(new)), tl.end)
    entity = np.concatenate([occ.entity, new])
    decided = np.concatenate([occ.day, new_day])
    decided = np.minimum(decided, pop.closed[entity].astype(np.int64) - 1).astype(np.int64)
    decided = np.maximum(decided, pop.established[entity])
    m = len(entity)
    # Licence names as indices into one list: industry licences first, then the generic ones.
    names = [i.licence for i in lexicon.INDUSTRIES] + [
        "食品经营许可证",
        "公共场所卫生许可证",
        "户外广告设置许可",
        "排污许可证",
    ]
    n_ind = len(lexicon.INDUSTRIES)
    use_generic = rng.random(m) < 0.25
    name_idx = np.where(use_generic, n_ind + rng.integers(0, 4, m), pop.industry[entity])
    special_names = {"特种设备生产许可证", "药品生产许可证", "安全生产许可证", "建筑业企业资质证书"}
    special = np.array([n in special_names for n in names])[name_idx]
    name = _pick(names, name_idx)
    action = _pick(["核发", "延续", "变更"], rng.choice(3, m, p=[0.6, 0.25, 0.15]))
    div = pop.division[entity]
    year = tl.year_of(decided)
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[entity],
            "licence_name": name,
            "matter": pl.select(pl.concat_str(name, action)).to_series(),
            "licence_kind": np.where(
                special, "special", np.where(rng.random(m) < 0.1, "recognition", "general")
            ),
            "decided_on": _dates(decided),
            "valid_from": _dates(decided),
            "valid_to": _dates(decided + 5 * 365),
            "authority": auth.approval[div],
            "authority_uscc": auth.approval_uscc[div],
            "by_commitment": rng.random(m) < 0.22,
            "_entity": entity,
            "_key": div.astype(np.int64) * 10_000 + year,
        }
    )
    frame = (
        frame.with_row_index("_row")
        .sort(["decided_on", "_row"])
        .with_columns(
            licence_id=pl.format(
                "XK{}{}",
                pl.col("_key"),
                pl.int_range(1, pl.len() + 1).over("_key").cast(pl.String).str.zfill(6),
            )
        )
    )
    return frame.select(
        "licence_id",
        "uscc",
        "licence_name",
        "matter",
        "licence_kind",
        "decided_on",
        "valid_from",
        "valid_to",
        "authority",
        "authority_uscc",
        "by_commitment",
        "_entity",
    )


@dataclass(frozen=True, slots=True)
class PenaltyFacts:
    """What later records need to know about each penalty (in table row order)."""

    decision_no: np.ndarray
    entity: np.ndarray
    day: np.ndarray
    severity: np.ndarray
    domain: np.ndarray  # names
    repairable: np.ndarray  # bool: not warning / criticism / low fine (domain-rules §4.2)


def _penalties(
    rng: np.random.Generator,
    pop: Population,
    tl: Timeline,
    insp: Inspections,
    auth: Authorities,
    risk: np.ndarray,
    legal_rep_name: pl.Series,
) -> tuple[pl.DataFrame, PenaltyFacts]:
    # Complaints, reports and targeted checks: a rate rising steeply with risk.
    occ = occurrences(rng, pop, tl, 0.45 * risk**1.3)
    # Inspections that found a violation lead to a penalty decision some weeks later.
    found = np.isin(insp.outcome, ["violation", "serious_violation"])
    follow = found & (rng.random(len(found)) < np.where(insp.outcome == "serious_violation", 0.85, 0.45))
    f_entity = insp.entity[follow]
    f_day = insp.day[follow].astype(np.int64) + rng.integers(15, 90, int(follow.sum()))
    keep = f_day <= tl.end
    entity = np.concatenate([occ.entity, f_entity[keep]])
    decided = np.concatenate([occ.day, f_day[keep]])
    from_serious = np.concatenate(
        [np.zeros(len(occ.entity), bool), (insp.outcome[follow] == "serious_violation")[keep]]
    )
    m = len(entity)
    r = risk[entity, tl.period_of(decided)]
    u = rng.random(m)
    p_serious = np.where(from_serious, 0.7, 0.04 + 0.2 * r)
    severity = np.where(u < p_serious, "serious", np.where(u < p_serious + 0.35, "minor", "general"))
    own_domain = np.array([DOMAINS.index(i.domain) for i in lexicon.INDUSTRIES])[pop.industry[entity]]
    other_domain = rng.choice(len(DOMAINS), m, p=np.array([3, 1, 1, 4, 4, 3, 4, 2]) / 22)
    domain_idx = np.where(rng.random(m) < 0.65, own_domain, other_domain)
    domain = np.array(DOMAINS)[domain_idx]
    # One of each domain's violation types, with its legal basis.
    n_types = np.array([len(lexicon.VIOLATIONS[d]) for d in DOMAINS])
    pick = rng.integers(0, 1 << 20, m) % n_types[domain_idx]
    flat_types = [v for d in DOMAINS for v in lexicon.VIOLATIONS[d]]
    offsets = np.r_[0, np.cumsum(n_types)[:-1]]
    vtype = np.array([t for t, _ in flat_types])[offsets[domain_idx] + pick]
    basis = np.array([b for _, b in flat_types])[offsets[domain_idx] + pick]

    kinds_minor = np.array(["warning", "fine"])
    kinds_general = np.array(["fine", "confiscation", "circulated_criticism"])
    kinds_serious = np.array(
        ["fine", "licence_suspension", "licence_revocation", "business_restriction", "confiscation"]
    )
    kind = np.where(
        severity == "minor",
        kinds_minor[rng.choice(2, m, p=[0.6, 0.4])],
        np.where(
            severity == "general",
            kinds_general[rng.choice(3, m, p=[0.72, 0.2, 0.08])],
            kinds_serious[rng.choice(5, m, p=[0.4, 0.2, 0.15, 0.2, 0.05])],
        ),
    )
    log_fine = np.where(
        severity == "minor", np.log(2_000), np.where(severity == "general", np.log(20_000), np.log(150_000))
    )
    fine = np.round(np.exp(log_fine + 0.8 * rng.standard_normal(m)), -2)
    has_fine = (kind == "fine") | ((severity == "serious") & (rng.random(m) < 0.6)) | (kind == "confiscation")
    confiscated = np.round(np.exp(np.log(8_000) + 1.0 * rng.standard_normal(m)), 0)
    has_conf = kind == "confiscation"
    fine_text = np.char.add(np.char.add("罚款", fine.astype(np.int64).astype(str)), "元")
    content = np.where(
        kind == "warning",
        "警告",
        np.where(
            kind == "circulated_criticism",
            "通报批评",
            np.where(kind == "confiscation", np.char.add("没收违法所得，并处", fine_text), fine_text),
        ),
    )
    # Order 45 art 13: publicity stops after 3 months for criticism or a low fine, otherwise after 3 years;
    # warnings are not published at all.
    low = (kind == "circulated_criticism") | ((kind == "fine") & (fine < 100_000) & (severity != "serious"))
    publicity = np.where(low, decided + 91, decided + 3 * 365)
    valid_until = decided + np.where(severity == "minor", 91, np.where(severity == "general", 365, 3 * 365))
    div = pop.division[entity]
    year = tl.year_of(decided)
    abbr = np.array([d.abbr for d in lexicon.DIVISIONS])[div]
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[entity],
            "party_name": pop.name[entity],
            "legal_representative": legal_rep_name.gather(entity),
            "violation_type": vtype,
            "facts": np.char.add(np.char.add("经查，当事人存在", vtype), "的行为"),
            "basis": basis,
            "penalty_kind": kind,
            "content": content,
            "fine_amount": pl.Series(np.where(has_fine, fine, np.nan)).fill_nan(None),
            "confiscated_amount": pl.Series(np.where(has_conf, confiscated, np.nan)).fill_nan(None),
            "domain": domain,
            "severity": severity,
            "decided_on": _dates(decided),
            "valid_until": _dates(valid_until),
            "publicity_until": _opt_dates(publicity, kind != "warning"),
            "authority": auth.samr[div],
            "authority_uscc": auth.samr_uscc[div],
            "data_source": auth.samr[div],
            "data_source_uscc": auth.samr_uscc[div],
            "_entity": entity,
            "_abbr": abbr,
            "_year": year,
            "_repairable": ~low
            & (kind != "warning")
            & ~np.isin(kind, ["licence_revocation", "business_restriction"]),
        }
    ).with_row_index("_row")
    # Decision numbers run per authority and year in date order: 亭市监罚〔2024〕123号.
    frame = frame.sort(["decided_on", "_row"]).with_columns(
        decision_no=pl.format(
            "{}市监罚〔{}〕{}号",
            pl.col("_abbr"),
            pl.col("_year"),
            pl.int_range(1, pl.len() + 1).over(["_abbr", "_year"]),
        )
    )
    facts = PenaltyFacts(
        decision_no=frame["decision_no"].to_numpy().astype(str),
        entity=frame["_entity"].to_numpy(),
        day=frame["decided_on"].cast(pl.Int32).to_numpy().astype(np.int64),
        severity=frame["severity"].to_numpy().astype(str),
        domain=frame["domain"].to_numpy().astype(str),
        repairable=frame["_repairable"].to_numpy(),
    )
    table = frame.select(
        "decision_no",
        "uscc",
        "party_name",
        "legal_representative",
        "violation_type",
        "facts",
        "basis",
        "penalty_kind",
        "content",
        "fine_amount",
        "confiscated_amount",
        "domain",
        "severity",
        "decided_on",
        "valid_until",
        "publicity_until",
        "authority",
        "authority_uscc",
        "data_source",
        "data_source_uscc",
    )
    return table, facts


@dataclass(frozen=True, slots=True)
class Listing:
    """List entries that later repairs and interviews refer to."""

    entry_id: np.ndarray
    entity: np.ndarray
    listed: np.ndarray
    exit_day: np.ndarray  # day of a repair-driven exit, or -1
    authority: np.ndarray


def _lists(
    rng: np.random.Generator,
    pop: Population,
    tl: Timeline,
    auth: Authorities,
    risk: np.ndarray,
    pen: PenaltyFacts,
) -> tuple[pl.DataFrame, Listing, Listing]:
    parts: list[pl.DataFrame] = []
    end = tl.end

    def part(
        list_type: str,
        entity: np.ndarray,
        listed: np.ndarray,
        planned: np.ndarray | None,
        exited: np.ndarray,
        exit_reason: np.ndarray,
        authority: np.ndarray | pl.Series,
        doc: np.ndarray,
    ) -> pl.DataFrame:
        m = len(entity)
        reasons = lexicon.LIST_REASONS[list_type]
        has_exit = (exited >= 0) & (exited <= end)
        return pl.DataFrame(
            {
                "uscc": pop.uscc[entity],
                "list_type": _rep(list_type, m),
                "basis": _rep(lexicon.LIST_BASIS[list_type], m),
                "basis_document_no": doc,
                "reason": np.array(reasons)[rng.integers(0, len(reasons), m)],
                "listed_on": _dates(listed),
                "planned_end": _opt_dates(
                    planned if planned is not None else listed, np.full(m, planned is not None)
                ),
                "exited_on": _opt_dates(np.where(has_exit, exited, listed), has_exit),
                "exit_reason": _opt_str(exit_reason, has_exit),
                "authority": authority,
                "_entity": entity,
                "_exit": np.where(has_exit & (exit_reason == "repaired"), exited, -1),
            }
        )

    div_abbr = np.array([d.abbr for d in lexicon.DIVISIONS])

    # Severe dishonesty (Order 44): a share of serious penalties, listed within weeks; early exit after
    # ≥ 1 year through repair, automatic exit after 3 years.
    s = np.flatnonzero((pen.severity == "serious") & (rng.random(len(pen.severity)) < 0.35))
    s_entity = pen.entity[s]
    s_listed = pen.day[s] + rng.integers(10, 40, len(s))
    ok = s_listed <= end
    s, s_entity, s_listed = s[ok], s_entity[ok], s_listed[ok]
    s_planned = s_listed + 3 * 365
    early = rng.random(len(s)) < 0.3 * (1 - risk[s_entity, tl.period_of(np.minimum(s_listed, end))])
    s_exit = np.where(early, s_listed + 365 + rng.integers(20, 300, len(s)), s_planned)
    s_reason = np.where(early, "repaired", "expired")
    s_div = pop.division[s_entity]
    s_doc = np.char.add(np.char.add(div_abbr[s_div], "市监严失〔"), tl.year_of(s_listed).astype(str))
    s_doc = np.char.add(np.char.add(s_doc, "〕"), np.char.add(np.arange(1, len(s) + 1).astype(str), "号"))
    parts.append(
        part("severe_dishonesty", s_entity, s_listed, s_planned, s_exit, s_reason, auth.samr[s_div], s_doc)
    )

    # Abnormal operations: missed annual reports and unreachable addresses, more likely near closure.
    days_left = pop.closed[:, None].astype(np.int64) - tl.bounds[None, 1:]
    near_close = (days_left < 2 * 365).astype(np.float64)
    occ = occurrences(rng, pop, tl, 0.12 * risk + 0.35 * near_close)
    a_entity, a_listed = occ.entity, occ.day
    a_exited = rng.random(len(a_entity)) < 0.5
    a_exit = np.where(a_exited, a_listed + rng.integers(30, 400, len(a_entity)), -1)
    a_div = pop.division[a_entity]
    a_doc = np.char.add(np.char.add(div_abbr[a_div], "市监异〔"), tl.year_of(a_listed).astype(str))
    a_doc = np.char.add(
        np.char.add(a_doc, "〕"), np.char.add(np.arange(1, len(a_entity) + 1).astype(str), "号")
    )
    parts.append(
        part(
            "abnormal_operations",
            a_entity,
            a_listed,
            None,
            a_exit,
            np.full(len(a_entity), "repaired"),
            auth.samr[a_div],
            a_doc,
        )
    )

    # Court dishonest debtors: strongly risk-driven; many fulfil and leave within two years.
    occ = occurrences(rng, pop, tl, 0.25 * risk**2)
    c_entity, c_listed = occ.entity, occ.day
    c_planned = c_listed + 2 * 365
    c_fulfil = rng.random(len(c_entity)) < 0.5
    c_exit = np.where(c_fulfil, c_listed + rng.integers(30, 700, len(c_entity)), c_planned)
    c_reason = np.where(c_fulfil, "court_fulfilled", "expired")
    c_div = pop.division[c_entity]
    c_doc = np.char.add(np.char.add("（", tl.year_of(c_listed).astype(str)), "）苏09")
    c_doc = np.char.add(np.char.add(c_doc, np.char.zfill((c_div + 2).astype(str), 2)), "执")
    c_doc = np.char.add(np.char.add(c_doc, np.arange(1, len(c_entity) + 1).astype(str)), "号")
    parts.append(
        part(
            "court_dishonest_debtor",
            c_entity,
            c_listed,
            c_planned,
            c_exit,
            c_reason,
            auth.court[c_div],
            c_doc,
        )
    )

    # Red lists: once a year the lowest-risk enterprises may be named for a year.
    r_entity_parts, r_day_parts = [], []
    for k in range(tl.years):  # one pass per year
        when = int(tl.bounds[k]) + 100
        if when > end:
            continue
        eligible = np.flatnonzero((pop.kind == 0) & pop.is_open(np.arange(pop.n), when))
        if len(eligible) == 0:
            continue
        cut = np.quantile(pop.logit[eligible, k], 0.05)
        chosen = eligible[(pop.logit[eligible, k] <= cut) & (rng.random(len(eligible)) < 0.3)]
        r_entity_parts.append(chosen)
        r_day_parts.append(np.full(len(chosen), when, dtype=np.int64))
    r_entity = np.concatenate(r_entity_parts) if r_entity_parts else np.zeros(0, np.int64)
    r_listed = np.concatenate(r_day_parts) if r_day_parts else np.zeros(0, np.int64)
    r_planned = r_listed + 365
    r_doc = np.char.add(np.char.add("盐信用红〔", tl.year_of(r_listed).astype(str)), "〕")
    r_doc = np.char.add(r_doc, np.char.add(np.arange(1, len(r_entity) + 1).astype(str), "号"))
    parts.append(
        part(
            "red_list",
            r_entity,
            r_listed,
            r_planned,
            r_planned,
            np.full(len(r_entity), "expired"),
            np.full(len(r_entity), "盐城市发展和改革委员会"),
            r_doc,
        )
    )

    frame = _numbered(pl.concat(parts), column="entry_id", prefix="MD", by="listed_on")
    table = frame.select(
        "entry_id",
        "uscc",
        "list_type",
        "basis",
        "basis_document_no",
        "reason",
        "listed_on",
        "planned_end",
        "exited_on",
        "exit_reason",
        "authority",
    )

    def listing(list_type: str) -> Listing:
        sub = frame.filter(pl.col("list_type") == list_type)
        return Listing(
            entry_id=sub["entry_id"].to_numpy().astype(str),
            entity=sub["_entity"].to_numpy(),
            listed=sub["listed_on"].cast(pl.Int32).to_numpy().astype(np.int64),
            exit_day=sub["_exit"].to_numpy(),
            authority=sub["authority"].to_numpy().astype(str),
        )

    return table, listing("severe_dishonesty"), listing("abnormal_operations")


def _repairs(
    rng: np.random.Generator,
    pop: Population,
    tl: Timeline,
    auth: Authorities,
    risk: np.ndarray,
    pen: PenaltyFacts,
    severe: Listing,
    abnormal: Listing,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    end = tl.end
    # Penalty repairs: only after the minimum publicity (≥ 6 months; ≥ 1 year for food, drugs, special
    # equipment, and for serious misconduct), and more often by entities that have mended their ways.
    strict = np.isin(pen.domain, list(_STRICT_DOMAINS)) | (pen.severity == "serious")
    minimum = np.where(strict, 366, 183)
    r_now = risk[pen.entity, tl.period_of(pen.day)]
    applies = pen.repairable & (rng.random(len(pen.day)) < 0.45 * (1 - r_now))
    applied = pen.day + minimum + np.floor(rng.exponential(90, len(pen.day))).astype(np.int64)
    applies &= applied <= np.minimum(end, pop.closed[pen.entity].astype(np.int64) - 1)
    p_idx = np.flatnonzero(applies)
    p_applied = applied[p_idx]
    p_decided = p_applied + rng.integers(3, 20, len(p_idx))
    p_outcome = np.where(rng.random(len(p_idx)) < 0.85, "approved", "rejected")
    # List exits by repair: the decision is the exit day, so the application came a little before it.
    l_entity = np.concatenate([severe.entity, abnormal.entity])
    l_exit = np.concatenate([severe.exit_day, abnormal.exit_day])
    l_ids = np.concatenate([severe.entry_id, abnormal.entry_id])
    l_auth = np.concatenate([severe.authority, abnormal.authority])
    l_sel = np.flatnonzero(l_exit >= 0)
    l_listed = np.concatenate([severe.listed, abnormal.listed])[l_sel]
    l_decided = l_exit[l_sel]
    l_applied = np.maximum(l_decided - rng.integers(3, 15, len(l_sel)), l_listed)

    entity = np.concatenate([pen.entity[p_idx], l_entity[l_sel]])
    applied_all = np.concatenate([p_applied, l_applied])
    decided_all = np.concatenate([p_decided, l_decided])
    decided_known = decided_all <= end
    outcome = np.concatenate([p_outcome, np.full(len(l_sel), "approved")])
    outcome = np.where(decided_known, outcome, "pending")
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[entity],
            "record_table": np.concatenate(
                [np.full(len(p_idx), "penalties"), np.full(len(l_sel), "list_entries")]
            ),
            "record_id": np.concatenate([pen.decision_no[p_idx], l_ids[l_sel]]),
            "applied_on": _dates(applied_all),
            "decided_on": _opt_dates(decided_all, decided_known),
            "outcome": outcome,
            "authority": pl.concat(
                [auth.samr[pop.division[pen.entity[p_idx]]], pl.Series(l_auth[l_sel], dtype=pl.String)]
            ),
            "_entity": entity,
        }
    )
    frame = _numbered(frame, column="repair_id", prefix="XF", by="applied_on")
    table = frame.select(
        "repair_id", "uscc", "record_table", "record_id", "applied_on", "decided_on", "outcome", "authority"
    )
    # Every repair application comes with a public credit commitment (Order 36 condition 3).
    commits = frame.select(
        "uscc", "_entity", pl.col("applied_on").alias("made_on"), pl.col("repair_id").alias("matter")
    )
    return table, commits


def _commitments(
    rng: np.random.Generator,
    pop: Population,
    tl: Timeline,
    risk: np.ndarray,
    licences: pl.DataFrame,
    repair_commit: pl.DataFrame,
) -> pl.DataFrame:
    end = tl.end
    lic = licences.filter(pl.col("by_commitment"))
    occ = occurrences(rng, pop, tl, np.full(pop.logit.shape, 0.7))
    entity = np.concatenate([lic["_entity"].to_numpy(), occ.entity, repair_commit["_entity"].to_numpy()])
    made = np.concatenate(
        [
            lic["decided_on"].cast(pl.Int32).to_numpy().astype(np.int64),
            occ.day,
            repair_commit["made_on"].cast(pl.Int32).to_numpy().astype(np.int64),
        ]
    )
    n_lic, n_vol, n_rep = len(lic), len(occ.entity), len(repair_commit)
    m = len(entity)
    ctype = np.concatenate(
        [
            np.full(n_lic, "licence_notification"),
            np.where(rng.random(n_vol) < 0.7, "voluntary", "industry_self_discipline"),
            np.full(n_rep, "credit_repair"),
        ]
    )
    matter = pl.concat(
        [
            lic["licence_name"] + "告知承诺",
            _pick(lexicon.COMMITMENT_MATTERS, rng.integers(0, len(lexicon.COMMITMENT_MATTERS), n_vol)),
            "信用修复承诺（" + repair_commit["matter"] + "）",
        ]
    )
    due = made + rng.integers(90, 365, m)
    r = risk[entity, tl.period_of(made)]
    breached = rng.random(m) < 0.7 * r
    settled = due + rng.integers(0, 30, m)
    known = (settled <= end) & (settled < pop.closed[entity])
    fulfilment = np.where(known, np.where(breached, "breached", "fulfilled"), "pending")
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[entity],
            "commitment_type": ctype,
            "matter": matter,
            "licence_id": pl.concat(
                [lic["licence_id"], pl.repeat(None, n_vol + n_rep, dtype=pl.String, eager=True)]
            ),
            "made_on": _dates(made),
            "due_on": _dates(due),
            "fulfilment": fulfilment,
            "fulfilment_on": _opt_dates(settled, known),
        }
    )
    frame = _numbered(frame, column="commitment_id", prefix="CN", by="made_on")
    return frame.select(
        "commitment_id",
        "uscc",
        "commitment_type",
        "matter",
        "licence_id",
        "made_on",
        "due_on",
        "fulfilment",
        "fulfilment_on",
    )


def _self_reports(rng: np.random.Generator, pop: Population, tl: Timeline, risk: np.ndarray) -> pl.DataFrame:
    # Good entities report their honours and social responsibility; risky ones rarely bother.
    occ = occurrences(rng, pop, tl, 1.4 * (1 - risk) ** 3)
    m = len(occ.entity)
    topics = np.array(
        ["qualification", "honour", "social_responsibility", "tax", "social_insurance", "contract", "other"]
    )
    topic = topics[rng.choice(len(topics), m, p=[0.2, 0.15, 0.15, 0.15, 0.15, 0.1, 0.1])]
    verified_on = occ.day + rng.integers(5, 60, m)
    checked = (rng.random(m) < 0.6) & (verified_on <= tl.end)
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[occ.entity],
            "topic": topic,
            "content": pl.Series(topic).replace_strict(lexicon.SELF_REPORT_CONTENT, return_dtype=pl.String),
            "reported_on": _dates(occ.day),
            "verified": checked,
            "verified_on": _opt_dates(verified_on, checked),
        }
    )
    frame = _numbered(frame, column="report_id", prefix="ZB", by="reported_on")
    return frame.select("report_id", "uscc", "topic", "content", "reported_on", "verified", "verified_on")


def _evaluations(rng: np.random.Generator, pop: Population, tl: Timeline, auth: Authorities) -> pl.DataFrame:
    parts = []
    food = np.array([i.domain == "food" for i in lexicon.INDUSTRIES])[pop.industry]
    for k in range(tl.years):  # one annual round each
        when = int(tl.bounds[k]) + 80
        if when > tl.end:
            continue
        # The public credit evaluation covers every open market entity (NDRC rounds, domain-rules §7.1).
        rated = np.flatnonzero(pop.is_open(np.arange(pop.n), when))
        for scheme in ("public_credit", "industry"):
            idx = rated if scheme == "public_credit" else rated[food[rated] & (rng.random(len(rated)) < 0.6)]
            signal = pop.logit[idx, k] + rng.normal(0.0, 0.6, len(idx))
            cuts = np.quantile(signal, [0.2, 0.75, 0.95]) if len(idx) else np.zeros(3)
            grade = np.array(list("ABCD"))[np.searchsorted(cuts, signal, side="right")]
            score = np.clip(np.round(88 - 9 * (signal + 1.75), 1), 0, 100)
            m = len(idx)
            parts.append(
                pl.DataFrame(
                    {
                        "uscc": pop.uscc[idx],
                        "scheme": _rep(scheme, m),
                        "industry_domain": _rep("food", m)
                        if scheme == "industry"
                        else pl.repeat(None, m, dtype=pl.String, eager=True),
                        "grade": grade,
                        "score": score,
                        "evaluated_on": _dates(np.full(m, when)),
                        "valid_until": _dates(np.full(m, when + 365)),
                        "evaluator": _rep("盐城市公共信用信息中心", m)
                        if scheme == "public_credit"
                        else auth.samr[pop.division[idx]],
                    }
                )
            )
    frame = _numbered(pl.concat(parts), column="evaluation_id", prefix="PJ", by="evaluated_on")
    return frame.select(
        "evaluation_id",
        "uscc",
        "scheme",
        "industry_domain",
        "grade",
        "score",
        "evaluated_on",
        "valid_until",
        "evaluator",
    )


def _interviews(
    rng: np.random.Generator,
    pop: Population,
    tl: Timeline,
    auth: Authorities,
    risk: np.ndarray,
    pen: PenaltyFacts,
    severe: Listing,
) -> pl.DataFrame:
    # 谁认定、谁约谈: most severe listings, some penalties, and a few risk warnings without a record.
    s = np.flatnonzero(rng.random(len(severe.entity)) < 0.7)
    p = np.flatnonzero((pen.severity != "minor") & (rng.random(len(pen.day)) < 0.1))
    occ = occurrences(rng, pop, tl, 0.03 * risk)
    entity = np.concatenate([severe.entity[s], pen.entity[p], occ.entity])
    held = np.concatenate(
        [severe.listed[s] + rng.integers(15, 60, len(s)), pen.day[p] + rng.integers(7, 45, len(p)), occ.day]
    )
    related = np.concatenate([severe.entry_id[s], pen.decision_no[p], np.full(len(occ.entity), "")])
    reason = np.concatenate(
        [
            np.full(len(s), "列入严重失信主体名单后的警示约谈"),
            np.full(len(p), "行政处罚后的信用提醒约谈"),
            np.full(len(occ.entity), "信用风险预警约谈"),
        ]
    )
    keep = (held <= tl.end) & (held < pop.closed[entity])
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[entity[keep]],
            "held_on": _dates(held[keep]),
            "authority": auth.samr[pop.division[entity[keep]]],
            "reason": reason[keep],
            "related_record": _opt_str(related[keep], related[keep] != ""),
        }
    )
    frame = _numbered(frame, column="interview_id", prefix="YT", by="held_on")
    return frame.select("interview_id", "uscc", "held_on", "authority", "reason", "related_record")


def _objections(
    rng: np.random.Generator, pop: Population, tl: Timeline, pen: PenaltyFacts, insp: Inspections
) -> pl.DataFrame:
    p = np.flatnonzero(rng.random(len(pen.day)) < 0.04)
    found = np.isin(insp.outcome, ["violation", "serious_violation"])
    i = np.flatnonzero(found & (rng.random(len(found)) < 0.05))
    insp_ids = insp.table["inspection_id"].to_numpy().astype(str)
    entity = np.concatenate([pen.entity[p], insp.entity[i]])
    base = np.concatenate([pen.day[p], insp.day[i].astype(np.int64)])
    m = len(entity)
    filed = base + rng.integers(5, 60, m)
    marked = filed + rng.integers(0, 2, m)
    decided = filed + rng.integers(3, 20, m)
    upheld = rng.random(m) < 0.25
    known = decided <= tl.end
    keep = filed <= tl.end
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[entity],
            "record_table": np.concatenate([np.full(len(p), "penalties"), np.full(len(i), "inspections")]),
            "record_id": np.concatenate([pen.decision_no[p], insp_ids[i]]),
            "filed_on": _dates(filed),
            "marked_on": _opt_dates(marked, marked <= tl.end),
            "decided_on": _opt_dates(decided, known),
            "outcome": np.where(known, np.where(upheld, "upheld", "rejected"), "pending"),
            "resolution": _opt_str(np.where(rng.random(m) < 0.6, "corrected", "revoked"), known & upheld),
        }
    ).filter(pl.Series(keep))
    frame = _numbered(frame, column="objection_id", prefix="YY", by="filed_on")
    return frame.select(
        "objection_id",
        "uscc",
        "record_table",
        "record_id",
        "filed_on",
        "marked_on",
        "decided_on",
        "outcome",
        "resolution",
    )
