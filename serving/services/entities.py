"""Entities: search, the profile with records by category, the stored (current) score, its explanation,
related parties, the score history — and the supervisor's entity page, which shows all of them at once.

Every read of one entity's detail is audited (as a read: the API writes it after the response). What a role
sees of personal data is the masking policy's (:mod:`supervision.platform.masking`), applied here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from features import lake as lake_io
from features import uscc as uscc_rules
from features.catalog import TABLES
from features.graph import normalise_address, normalise_phone, relations_in_force
from models.explain import BASELINE, BASELINE_EN, BASELINE_ZH, ScoreReason, explained_dimension
from serving.champion import NoChampion
from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.current_score import CurrentScore
from supervision.lifecycle import scores as score_history
from supervision.platform import masking
from supervision.platform.access import Role
from supervision.platform.clock import EARLIEST, LATEST, plausible_day
from supervision.platform.errors import DomainError, NotFoundError

if TYPE_CHECKING:
    from models.risk_model import RiskModel

__all__ = [
    "EARLIEST",
    "LATEST",
    "READERS",
    "SCORE_READERS",
    "DimensionContribution",
    "EntityPage",
    "EntitySummary",
    "Explanation",
    "FeatureContribution",
    "HistoryPoint",
    "Profile",
    "Related",
    "RelatedParties",
    "Relation",
    "ScoreHistory",
    "SearchResult",
    "UsccCheck",
    "check_codes",
    "check_day",
    "date_column",
    "entity_page",
    "explain",
    "history",
    "profile",
    "related",
    "search",
    "stored_score",
]

READERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)
# Another government system asks for the verdict (score, tier, reasons), not the file.
SCORE_READERS = (*READERS, Role.SYSTEM)

# Dates a question may be asked about (feature windows reach years back; date arithmetic must not overflow).
MAX_QUERY, MAX_LIMIT, MAX_RELATED, MAX_REASONS = 100, 100, 500, 20

RECORD_TABLES = tuple(
    t.name
    for t in TABLES
    if t.name not in {"entities", "persons"} and any(f.name == "uscc" for f in t.fields)
)
RELATION_KINDS = ("person", "investment", "shared_address", "shared_phone")


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class EntitySummary:
    uscc: str
    name: str | None
    entity_type: str | None
    industry: str | None
    division_code: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    total: int  # matches in the register; at most the limit are listed
    entities: tuple[EntitySummary, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    """The register row and the records by category (catalog table, newest first), masked for the reader."""

    uscc: str
    registration: Mapping[str, Any]
    records: Mapping[str, list[dict[str, Any]]]

    @property
    def counts(self) -> dict[str, int]:
        return {table: len(rows) for table, rows in self.records.items()}


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    feature: str
    zh: str | None
    en: str | None
    dimension: str | None  # ``baseline`` for a structural attribute (models.explain)
    value: float | int | str | bool | None
    contribution: float
    structural: bool = False  # shared with similar entities, not conduct: part of the baseline line


@dataclass(frozen=True, slots=True)
class DimensionContribution:
    dimension: str
    zh: str | None
    en: str | None
    contribution: float  # the dimension's feature contributions summed (log-odds)


@dataclass(frozen=True, slots=True)
class Explanation:
    """A score explained by the serving champion: base value + feature contributions = raw score.

    ``features_from``: ``score_file:DATE`` when the feature row stored with the entity's score of that date
    was explained (exactly that score), ``lake`` when the features were rebuilt from the lake.
    ``score_as_of``: the date of the score whose tier this answer carries (the features' date scored).
    """

    uscc: str
    as_of: date
    model_version: str
    probability: float
    tier: str
    model_tier: str | None
    expected_rate: float | None
    raw_score: float
    base_value: float
    features: tuple[FeatureContribution, ...]
    dimensions: tuple[DimensionContribution, ...]
    reasons: tuple[ScoreReason, ...]
    features_from: str

    @property
    def score_as_of(self) -> date:
        return self.as_of


@dataclass(frozen=True, slots=True)
class Relation:
    kind: str  # person, investment, shared_address, shared_phone
    detail: str  # the shared person (masked for the reader), address, phone or the share


@dataclass(frozen=True, slots=True)
class Related:
    uscc: str
    name: str | None
    hops: int  # 1 or 2
    via: str | None  # for two hops: the entity in between
    why: tuple[Relation, ...]


@dataclass(frozen=True, slots=True)
class RelatedParties:
    uscc: str
    as_of: date
    related: tuple[Related, ...]


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    as_of: date
    tier: str
    model_tier: str | None
    probability: float
    model_version: str | None
    source: str  # score_file:DATE, or score_history:ID (a re-score after a decision)


@dataclass(frozen=True, slots=True)
class ScoreHistory:
    uscc: str
    scores: tuple[HistoryPoint, ...]


@dataclass(frozen=True, slots=True)
class EntityPage:
    """Everything the entity page shows: the profile, the current score, its explanation (or why there is
    none: ``unavailable``), the related parties with their current tiers (and the date of each tier's score,
    ``tier_dates``), the score history."""

    profile: Profile
    score: CurrentScore | None
    explanation: Explanation | None
    unavailable: str | None
    related: RelatedParties
    tiers: Mapping[str, str]
    history: ScoreHistory
    tier_dates: Mapping[str, date] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsccCheck:
    """The GB 32100-2015 verdict on one code: ``ok`` or not, and the rule that failed."""

    code: str
    status: uscc_rules.Status
    ok: bool
    reason: str
    entity_type: str | None  # registration authority and entity type (positions 1-2)
    division_code: str | None  # GB/T 2260 division code (positions 3-8)


# ------------------------------------------------------------------------------------------------ use cases
@use_case("entities.search", roles=READERS)
def search(ctx: Context, query: str, *, limit: int = 20) -> SearchResult:
    """Entities whose USCC starts with `query` or whose name contains it (the first `limit` by USCC)."""
    text = query.strip()
    if not 2 <= len(text) <= MAX_QUERY:
        raise DomainError(f"q: {len(text)} characters; a search needs 2 to {MAX_QUERY}", field="q")
    _bounded("limit", limit, 1, MAX_LIMIT)
    found = (
        lake_io.scan(ctx.settings.lake_dir, "entities")
        .filter(
            pl.col("uscc").str.starts_with(text.upper()) | pl.col("name").str.contains(text, literal=True)
        )
        .select("uscc", "name", "entity_type", "industry", "division_code", "status")
        .sort("uscc")
        .collect()
    )
    rows = found.head(limit).iter_rows(named=True)
    return SearchResult(query=text, total=found.height, entities=tuple(EntitySummary(**r) for r in rows))


@use_case("entities.read", roles=READERS)
def profile(ctx: Context, uscc: str) -> Profile:
    """The entity's register row and its records by category, masked for the reader's role."""
    found = _profile(ctx, uscc)
    _audit_read(ctx, "entities.read", uscc)
    return found


@use_case("entities.score", roles=SCORE_READERS)
def stored_score(ctx: Context, uscc: str) -> CurrentScore:
    """The entity's current score today (:mod:`serving.services.current_score`: the rule)."""
    found = current_score.score_row(ctx.settings, uscc, ctx.today, ctx.session)
    if found is None:
        _registration(ctx, uscc)  # 422 malformed, 404 unknown
        raise NotFoundError(f"{uscc} has no stored score: run `creditwatch score --as-of DATE`", field="uscc")
    _audit_read(ctx, "entities.score", uscc)
    return found


@use_case("entities.explain", roles=READERS)
def explain(ctx: Context, uscc: str, *, as_of: date | None = None, top: int = 5) -> Explanation:
    """The entity's score explained by the serving champion, as of `as_of` (default: the date of its current
    score, today when it has none). The current score's own date is explained from the feature row stored
    with it (fast); any other date rebuilds the entity's features from the lake (slow)."""
    _bounded("top", top, 1, MAX_REASONS)
    if as_of is not None:
        check_day("as_of", as_of)
    stored = current_score.score_row(ctx.settings, uscc, ctx.today, ctx.session)
    if stored is None:  # a scored entity is registered: the register is scanned only for the others
        _registration(ctx, uscc)
    found = _explanation(ctx, uscc, stored=stored, as_of=as_of, top=top)
    _audit_read(ctx, "entities.explain", uscc, as_of=found.as_of.isoformat())
    return found


@use_case("entities.related", roles=READERS)
def related(ctx: Context, uscc: str, *, as_of: date | None = None, limit: int = 100) -> RelatedParties:
    """Related parties at one and two hops on `as_of` (default today), with why each is related."""
    _bounded("limit", limit, 1, MAX_RELATED)
    if as_of is not None:
        check_day("as_of", as_of)
    _registration(ctx, uscc)
    found = _related(ctx, uscc, as_of=as_of or ctx.today, limit=limit)
    _audit_read(ctx, "entities.related", uscc)
    return found


@use_case("entities.history", roles=READERS)
def history(ctx: Context, uscc: str) -> ScoreHistory:
    """The entity's scores over the stored score files and its re-scores after decisions, oldest first."""
    _registration(ctx, uscc)
    found = _history(ctx, uscc)
    _audit_read(ctx, "entities.history", uscc)
    return found


@use_case("entities.read", roles=READERS)
def entity_page(ctx: Context, uscc: str, *, reasons: int = 5, related_limit: int = MAX_RELATED) -> EntityPage:
    """Everything about one entity the reader's role may see, read once and audited once (as the profile)."""
    found = _profile(ctx, uscc)  # 422 malformed, 404 unknown
    stored = current_score.score_row(ctx.settings, uscc, ctx.today, ctx.session)
    explanation, unavailable = None, None
    try:
        explanation = _explanation(ctx, uscc, stored=stored, as_of=None, top=reasons)
    except NoChampion as exc:
        unavailable = exc.message
    parties = _related(ctx, uscc, as_of=ctx.today, limit=related_limit)
    usccs = [r.uscc for r in parties.related]
    current = current_score.current_scores(ctx.settings, usccs, ctx.today, ctx.session)
    tiers = {u: s.tier for u, s in current.items()}
    _audit_read(ctx, "entities.read", uscc)
    return EntityPage(
        profile=found,
        score=stored,
        explanation=explanation,
        unavailable=unavailable,
        related=parties,
        tiers=tiers,
        history=_history(ctx, uscc),
        tier_dates={u: s.score_as_of for u, s in current.items()},
    )


def check_codes(codes: Sequence[str], *, allow: Sequence[str] = ()) -> list[UsccCheck]:
    """Each code checked at all three levels (format, mod-31 check character, embedded GB 11714 digit); a
    code that fails is an answer (``ok`` false, with the rule), not an error. Not a use case: a verdict on
    the text alone, which reads no data, so it needs no identity and is not audited (any door, any role)."""
    out = []
    for code in codes:
        verdict = uscc_rules.validate(code, allow=allow)
        formatted = verdict.status is not uscc_rules.Status.FORMAT
        out.append(
            UsccCheck(
                code=verdict.code,
                status=verdict.status,
                ok=verdict.ok,
                reason=verdict.reason,
                entity_type=uscc_rules.entity_type(code) if formatted else None,
                division_code=uscc_rules.division_code(code) if formatted else None,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------ helpers
def date_column(table: str) -> str | None:
    """The column that dates a record of `table` (the timeline's order), if it has one."""
    spec = next(t for t in TABLES if t.name == table)
    dated = [f.name for f in spec.fields if f.name.endswith("_on") or f.name == "valid_from"]
    return dated[0] if dated else None


def _bounded(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise DomainError(f"{name}: {value} is out of range; allowed {low} to {high}", field=name)


def check_day(name: str, day: date) -> None:
    """Refuse a date outside the range any input may name (supervision.platform.clock.plausible_day)."""
    plausible_day(day, field=name)


def _audit_read(ctx: Context, action: str, uscc: str, **details: Any) -> None:
    ctx.audit(action, target=f"uscc:{uscc}", details=details, read=True)


def _registration(ctx: Context, uscc: str) -> dict[str, Any]:
    """The entity's register row; a malformed code is refused with the rule that failed, an unknown one is
    not found."""
    verdict = uscc_rules.validate(uscc, allow=ctx.settings.uscc_allow_list)
    if not verdict.ok:
        raise DomainError(f"{uscc!r} is not a valid USCC: {verdict.reason}", field="uscc")
    found = lake_io.scan(ctx.settings.lake_dir, "entities").filter(pl.col("uscc") == uscc).collect()
    if found.height == 0:
        raise NotFoundError(f"no entity {uscc} in the register", field="uscc")
    return found.row(0, named=True)


def _persons(ctx: Context) -> pl.LazyFrame:
    return lake_io.scan(ctx.settings.lake_dir, "persons").select(
        "person_key", pl.col("name").alias("person_name"), "id_masked"
    )


def _profile(ctx: Context, uscc: str) -> Profile:
    reg = _registration(ctx, uscc)
    audience = ctx.actor.audience
    records: dict[str, list[dict[str, Any]]] = {}
    for table in RECORD_TABLES:
        frame = lake_io.scan(ctx.settings.lake_dir, table).filter(pl.col("uscc") == uscc)
        if table == "relations":
            # The person behind a key, as the role may see them (names and ID numbers masked by policy).
            frame = frame.join(_persons(ctx), on="person_key", how="left")
        when = date_column(table)
        if when is not None:
            frame = frame.sort(when, descending=True, nulls_last=True)
        records[table] = masking.mask_frame(frame, audience=audience, table=table).collect().to_dicts()
    return Profile(
        uscc=uscc, registration=masking.mask_record(reg, audience=audience, table="entities"), records=records
    )


def _explanation(
    ctx: Context, uscc: str, *, stored: CurrentScore | None, as_of: date | None, top: int
) -> Explanation:
    from features.build import build_for_events
    from features.indicators import DIMENSIONS

    model, version = ctx.champion()  # NoChampion (503): nothing serves
    day = as_of or (stored.as_of if stored is not None else ctx.today)
    feats, features_from = None, "lake"
    # Only the score file's own date: a re-score after a decision was computed from the lake as it is now.
    if stored is not None and stored.from_file and stored.as_of == day:
        feats = _stored_features(ctx, model, uscc, day)
        if feats is not None:
            features_from = stored.source
    if feats is None:
        events = pl.LazyFrame({"uscc": [uscc], "as_of": [day]})
        feats = build_for_events(ctx.sources(), events).collect()
    one = model.explain_one(feats, k=top)
    infos = {i.name: i for i in model.feature_infos}
    features = tuple(
        FeatureContribution(
            feature=c.feature,
            zh=infos[c.feature].zh if c.feature in infos else None,
            en=infos[c.feature].en if c.feature in infos else None,
            dimension=explained_dimension(infos[c.feature]) if c.feature in infos else None,
            value=c.value,
            contribution=c.contribution,
            structural=c.feature in infos and infos[c.feature].structural,
        )
        for c in one.contributions
    )
    labels = {**DIMENSIONS, BASELINE: (BASELINE_ZH, BASELINE_EN)}
    dimensions = tuple(
        DimensionContribution(
            dimension=d,
            zh=labels.get(d, (None, None))[0],
            en=labels.get(d, (None, None))[1],
            contribution=v,
        )
        for d, v in sorted(one.dimensions.items(), key=lambda kv: -abs(kv[1]))
    )
    return Explanation(
        uscc=uscc,
        as_of=day,
        model_version=version,
        probability=one.score.probability,
        tier=one.score.tier,
        model_tier=one.score.model_tier,
        expected_rate=one.score.expected_rate,
        raw_score=one.score.raw_score,
        base_value=one.base_value,
        features=features,
        dimensions=dimensions,
        reasons=one.score.reasons,
        features_from=features_from,
    )


def _stored_features(ctx: Context, model: RiskModel, uscc: str, day: date) -> pl.DataFrame | None:
    """The entity's feature row stored with the score file of `day`, if it holds what the model needs (its
    inputs and the tier policy's override conditions; another catalog's file does not)."""
    wanted = list(dict.fromkeys([*model.feature_names, *model.policy.required_features()]))
    table = current_score.score_store(ctx.settings.home).features.table(day)
    if table is None or not set(wanted) <= table.columns:
        return None
    return table.row(uscc, wanted)


def _links(ctx: Context, *, as_of: date) -> pl.DataFrame:
    """(uscc, key, kind, detail): what connects entities — a person, an address, a phone, an investment —
    with the detail as the reader's role may see it."""
    audience = ctx.actor.audience
    rel = relations_in_force(lake_io.scan(ctx.settings.lake_dir, "relations"), as_of=as_of)
    name_seen = masking.visibility(masking.Kind.PERSON_NAME, audience)
    person_name = pl.col("person_name").fill_null("?")
    if name_seen == masking.MASKED:
        person_name = pl.concat_str(
            person_name.str.slice(0, 1),
            pl.lit("*").repeat_by(pl.max_horizontal(person_name.str.len_chars() - 1, 1)).list.join(""),
        )
    elif name_seen == masking.HIDDEN:
        person_name = pl.lit("***")
    people = (
        rel.filter(pl.col("person_key").is_not_null())
        .join(_persons(ctx), on="person_key", how="left")
        .select(
            "uscc",
            key=pl.lit("person:") + pl.col("person_key"),
            kind=pl.lit("person"),
            detail=pl.concat_str(person_name, pl.lit(" ("), pl.col("relation_type"), pl.lit(")")),
        )
    )
    invest = rel.filter(pl.col("related_uscc").is_not_null())
    share = pl.col("share").round(4).cast(pl.String).fill_null("?")
    key = pl.lit("invest:") + pl.col("uscc") + pl.lit(">") + pl.col("related_uscc")
    says = pl.concat_str(
        pl.col("uscc"), pl.lit(" invests in "), pl.col("related_uscc"), pl.lit(", share "), share
    )
    # Both ends of an investment are related through it.
    investments = pl.concat(
        [
            invest.select("uscc", key=key, kind=pl.lit("investment"), detail=says),
            invest.select(
                pl.col("related_uscc").alias("uscc"), key=key, kind=pl.lit("investment"), detail=says
            ),
        ]
    )
    ents = lake_io.scan(ctx.settings.lake_dir, "entities")
    addr_seen = masking.visibility(masking.Kind.ADDRESS, audience)
    phone_seen = masking.visibility(masking.Kind.PHONE, audience)
    address = pl.col("address") if addr_seen == masking.FULL else pl.lit("(address masked for this role)")
    phone = pl.col("phone") if phone_seen == masking.FULL else pl.lit("(phone hidden for this role)")
    shared = (
        pl.concat(
            [
                ents.select(
                    "uscc",
                    norm=normalise_address(pl.col("address")),
                    detail=address,
                    kind=pl.lit("shared_address"),
                ),
                ents.select(
                    "uscc", norm=normalise_phone(pl.col("phone")), detail=phone, kind=pl.lit("shared_phone")
                ),
            ]
        )
        .filter(pl.col("norm").is_not_null())
        .select("uscc", key=pl.col("kind") + pl.lit(":") + pl.col("norm"), kind="kind", detail="detail")
    )
    return pl.concat([people, investments, shared]).unique().collect()


def _neighbours(links: pl.DataFrame, seeds: list[str]) -> pl.DataFrame:
    """(from_uscc, uscc, kind, detail): entities sharing a link key with one of the seeds."""
    mine = links.filter(pl.col("uscc").is_in(seeds)).select(pl.col("uscc").alias("from_uscc"), "key")
    return (
        mine.join(links, on="key")
        .filter(pl.col("uscc") != pl.col("from_uscc"))
        .select("from_uscc", "uscc", "kind", "detail")
        .unique()
    )


def _why(rows: pl.DataFrame) -> tuple[Relation, ...]:
    return tuple(Relation(kind=r["kind"], detail=r["detail"]) for r in rows.iter_rows(named=True))


def _related(ctx: Context, uscc: str, *, as_of: date, limit: int) -> RelatedParties:
    links = _links(ctx, as_of=as_of)
    one = _neighbours(links, [uscc])
    first = sorted(set(one["uscc"].to_list()))
    two = _neighbours(links, first).filter(~pl.col("uscc").is_in([uscc, *first])) if first else one.clear()
    names = dict(
        lake_io.scan(ctx.settings.lake_dir, "entities")
        .filter(pl.col("uscc").is_in([*first, *two["uscc"].to_list()]))
        .select("uscc", "name")
        .collect()
        .iter_rows()
    )
    out: list[Related] = []
    for u in first:
        why = _why(one.filter(pl.col("uscc") == u).sort("kind", "detail"))
        out.append(Related(uscc=u, name=names.get(u), hops=1, via=None, why=why))
    for u in sorted(set(two["uscc"].to_list())):
        rows = two.filter(pl.col("uscc") == u).sort("from_uscc", "kind", "detail")
        via = rows["from_uscc"][0]  # the first neighbour (by USCC) it is reached through
        why = _why(rows.filter(pl.col("from_uscc") == via))
        out.append(Related(uscc=u, name=names.get(u), hops=2, via=via, why=why))
    return RelatedParties(uscc=uscc, as_of=as_of, related=tuple(out[:limit]))


def _history(ctx: Context, uscc: str) -> ScoreHistory:
    points = [
        HistoryPoint(
            as_of=r["as_of"],
            tier=str(r["tier"]),
            model_tier=r.get("model_tier"),
            probability=float(r["probability"]),
            model_version=r.get("model_version"),
            source=f"score_file:{r['as_of'].isoformat()}",
        )
        for r in current_score.score_store(ctx.settings.home).history(uscc)
    ]
    points += [
        HistoryPoint(
            as_of=e.as_of,
            tier=e.tier,
            model_tier=None,
            probability=e.probability,
            model_version=e.model_version,
            source=f"score_history:{e.id}",
        )
        for e in score_history.history(ctx.session, uscc)
    ]
    # By the features' date; on the same day the full scoring run first, then the re-scores in order.
    points.sort(key=_history_order)
    return ScoreHistory(uscc=uscc, scores=tuple(points))


def _history_order(point: HistoryPoint) -> tuple[date, bool, int, str]:
    rescore = point.source.startswith("score_history:")
    number = int(point.source.removeprefix("score_history:")) if rescore else 0
    return point.as_of, rescore, number, point.source
