"""Entities: search, the profile with records by category, the stored score, the full explanation, related
parties and the score history. Every read of one entity's detail is audited."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any, Literal

import anyio
import polars as pl
import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, object_session

from features import lake as lake_io
from features import uscc as uscc_rules
from features.catalog import TABLES
from features.graph import normalise_address, normalise_phone, valid_relations
from serving.api import masking
from serving.api.champion import ScoreStore, ServingChampion
from serving.api.deps import Principal, SessionDep, SettingsDep, get_engine, require_roles
from serving.api.errors import ApiError, NotFound
from serving.api.trail import audited
from serving.settings import Settings
from supervision import scores as score_history
from supervision.access import Role
from supervision.db import session_scope

router = APIRouter(prefix="/entities", tags=["entities"])

READERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)
ReadDep = Annotated[Principal, require_roles(*READERS)]
# Another government system asks for the verdict (score, tier, reasons), not the file.
ScoreReadDep = Annotated[Principal, require_roles(*READERS, Role.SYSTEM)]
Uscc = Annotated[
    str,
    Path(
        min_length=18,
        max_length=18,
        pattern=r"^[0-9A-HJ-NP-RTUWXY]{18}$",
        description="Unified Social Credit Code (统一社会信用代码), 18 characters",
    ),
]
RECORD_TABLES = tuple(
    t.name
    for t in TABLES
    if t.name not in {"entities", "persons"} and any(f.name == "uscc" for f in t.fields)
)


# Dates a question may be asked about (feature windows reach years back; date arithmetic must not overflow).
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)


class Unavailable(ApiError):
    status, type = 503, "unavailable"


class Invalid(ApiError):
    status, type = 422, "validation"


# --------------------------------------------------------------------------------------------- models
class EntitySummary(BaseModel):
    uscc: str
    name: str | None
    entity_type: str | None
    industry: str | None
    division_code: str | None
    status: str | None


class SearchOut(BaseModel):
    query: str
    total: int = Field(description="matches in the register (at most `limit` are listed)")
    entities: list[EntitySummary]


class Reason(BaseModel):
    feature: str
    dimension: str
    value: str | float | int | None = None
    contribution: float | None = Field(description="log-odds; null for a policy override")
    zh: str
    en: str


class EntityProfile(BaseModel):
    uscc: str
    registration: dict[str, Any] = Field(description="the register row, masked for the caller's role")
    records: dict[str, list[dict[str, Any]]] = Field(
        description="records by category (catalog table), newest first, masked for the caller's role"
    )
    counts: dict[str, int]


class StoredScore(BaseModel):
    uscc: str
    as_of: date = Field(description="the features' date")
    tier: str
    model_tier: str | None = None
    probability: float = Field(ge=0, le=1, description="calibrated probability of a violation")
    expected_rate: float | None = None
    model_version: str | None
    reasons: list[Reason] = Field(description="top reasons (zh/en); empty for a re-score entry")
    reasons_zh: str | None = Field(None, description="the reasons as one Chinese sentence")
    source: str = Field(
        description="`score_file:DATE` (`creditwatch score`) or `score_history:ID` (a re-score after an "
        "upheld objection or an approved repair, newer than the file)"
    )
    rescored_because: str | None = Field(None, description="for a re-score: the decision that caused it")


class FeatureContribution(BaseModel):
    feature: str
    zh: str | None
    en: str | None
    dimension: str | None
    value: float | int | str | bool | None
    contribution: float


class DimensionContribution(BaseModel):
    dimension: str
    zh: str | None
    en: str | None
    contribution: float = Field(description="sum of the dimension's feature contributions (log-odds)")


class Explanation(BaseModel):
    uscc: str
    as_of: date
    model_version: str
    probability: float
    tier: str
    model_tier: str | None
    expected_rate: float | None
    raw_score: float
    base_value: float = Field(description="log-odds before any feature; base + contributions = raw score")
    features: list[FeatureContribution]
    dimensions: list[DimensionContribution]
    reasons: list[Reason]
    features_from: str = Field(
        "lake",
        description="`score_file:DATE`: the feature row `creditwatch score` stored with the entity's score "
        "of that date (HOME/features/as_of=DATE.parquet), so the explanation explains exactly that score; "
        "`lake`: the entity's features rebuilt from the lake as of the date (slower)",
    )


class Relation(BaseModel):
    kind: Literal["person", "investment", "shared_address", "shared_phone"]
    detail: str = Field(description="the shared person (masked for the role), address, phone or the share")


class Related(BaseModel):
    uscc: str
    name: str | None
    hops: Literal[1, 2]
    via: str | None = Field(description="for two hops: the entity in between")
    why: list[Relation]


class RelatedOut(BaseModel):
    uscc: str
    as_of: date
    related: list[Related]


class HistoryPoint(BaseModel):
    as_of: date
    tier: str
    model_tier: str | None = None
    probability: float
    model_version: str | None = None
    source: str = Field(description="`score_file:DATE` or `score_history:ID` (a re-score after a decision)")


class HistoryOut(BaseModel):
    uscc: str
    scores: list[HistoryPoint]


# --------------------------------------------------------------------------------------------- helpers
def champion_of(request: Request) -> ServingChampion:
    champion: ServingChampion = request.app.state.champion
    return champion


def scores_of(request: Request) -> ScoreStore:
    store: ScoreStore = request.app.state.scores
    return store


def today() -> date:
    """The API's calendar day (China); the pages use it too."""
    from serving.api import lifecycle

    return lifecycle.today()


def registration(settings: Settings, uscc: str) -> dict[str, Any]:
    """The entity's register row, or 404 (a malformed code is a 422 with the rule that failed)."""
    verdict = uscc_rules.validate(uscc, allow=settings.uscc_allow_list)
    if not verdict.ok:
        raise Invalid(f"{uscc!r} is not a valid USCC: {verdict.reason}", field="path.uscc")
    found = lake_io.scan(settings.lake_dir, "entities").filter(pl.col("uscc") == uscc).collect()
    if found.height == 0:
        raise NotFound(f"no entity {uscc} in the register", field="path.uscc")
    return found.row(0, named=True)


def rescores(session: Session, usccs: Sequence[str], *, on: date) -> dict[str, score_history.ScoreEntry]:
    """The newest re-score entry (decided on or before `on`) of each of `usccs`, in one query per 500."""
    out: dict[str, score_history.ScoreEntry] = {}
    for start in range(0, len(usccs), 500):
        stmt = sa.select(score_history.ScoreEntry).where(
            score_history.ScoreEntry.uscc.in_(usccs[start : start + 500]),
            score_history.ScoreEntry.decided_on <= on,
        )
        for entry in session.scalars(stmt):
            best = out.get(entry.uscc)
            if best is None or (entry.as_of, entry.id) > (best.as_of, best.id):
                out[entry.uscc] = entry
    return out


# Re-scores this process has committed (the count moves after each such commit): see RescoreIndex.
_rescores_committed = 0


@sa.event.listens_for(score_history.ScoreEntry, "after_insert")
def _rescore_inserted(_mapper: Any, _connection: Any, target: score_history.ScoreEntry) -> None:
    session = object_session(target)
    if session is not None:
        session.info["score_history_written"] = True


@sa.event.listens_for(Session, "after_commit")
def _rescore_committed(session: Session) -> None:
    global _rescores_committed
    if session.info.pop("score_history_written", False):
        _rescores_committed += 1


class RescoreIndex:
    """The entities that have any re-score at all, so that reading one stored score asks the database only
    for those (score_history holds only entities with a decision since their score file; most have none).

    Re-checked against the database at most every `seconds` (row count and newest id: rows are only ever
    added), and at once after this process commits a re-score through the ORM (the API's lifecycle routes).
    A re-score written by another process (the CLI) is therefore served within `seconds`. Thread-safe.
    """

    def __init__(self, seconds: float = 1.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.refreshes = 0
        self._usccs: frozenset[str] | None = None
        self._stamp: tuple[int, int | None] | None = None
        self._checked = 0.0
        self._seen = -1
        self._lock = threading.Lock()

    def may_have(self, engine: sa.Engine, uscc: str) -> bool:
        """False if `uscc` has no re-score (as of the last check); True means "look it up"."""
        now = self.clock()
        with self._lock:
            usccs = self._usccs
            fresh = (
                usccs is not None and now < self._checked + self.seconds and self._seen == _rescores_committed
            )
        if not fresh:
            usccs = self._refresh(engine, now)
        assert usccs is not None
        return uscc in usccs

    def _refresh(self, engine: sa.Engine, now: float) -> frozenset[str]:
        seen = _rescores_committed  # before the query: a commit after it forces another check
        table = score_history.ScoreEntry.__table__
        with engine.connect() as connection:
            count, top = connection.execute(sa.select(sa.func.count(), sa.func.max(table.c.id))).one()
            stamp = (int(count), None if top is None else int(top))
            with self._lock:
                usccs = self._usccs if stamp == self._stamp else None
            if usccs is None:
                usccs = frozenset(connection.execute(sa.select(table.c.uscc).distinct()).scalars())
                self.refreshes += 1
        with self._lock:
            self._usccs, self._stamp, self._checked, self._seen = usccs, stamp, now, seen
        return usccs


def rescore_index(request: Request) -> RescoreIndex:
    """The app's :class:`RescoreIndex` (made on first use)."""
    state = request.app.state
    index: RescoreIndex | None = getattr(state, "rescore_index", None)
    if index is None:
        with _index_lock:
            index = getattr(state, "rescore_index", None)
            if index is None:
                index = state.rescore_index = RescoreIndex()
    return index


_index_lock = threading.Lock()


def stored_score(
    store: ScoreStore, uscc: str, *, rescore: score_history.ScoreEntry | None = None
) -> StoredScore | None:
    """The entity's current score: the newest score file's row, or a newer re-score after a decision.

    The same rule as the lifecycle's tier lookups (serving.api.lifecycle.score_row): the re-score wins when
    its features are later than the file's, or of the same day and written after the file.
    """
    table = store.latest()
    row = table.row(uscc) if table is not None else None
    if rescore is not None and (
        table is None
        or row is None
        or rescore.as_of > table.as_of
        or (rescore.as_of == table.as_of and rescore.created_at.timestamp() >= table.stamp[0] / 1e9)
    ):
        return StoredScore(
            uscc=uscc,
            as_of=rescore.as_of,
            tier=rescore.tier,
            probability=rescore.probability,
            model_version=rescore.model_version,
            reasons=[],
            reasons_zh=rescore.reasons_zh,
            source=f"score_history:{rescore.id}",
            rescored_because=rescore.reason,
        )
    if table is None or row is None:
        return None
    return StoredScore(
        uscc=uscc,
        as_of=table.as_of,
        tier=row["tier"],
        model_tier=row.get("model_tier"),
        probability=row["probability"],
        expected_rate=row.get("expected_rate"),
        model_version=row.get("model_version"),
        reasons=[Reason(**r) for r in row.get("reasons") or []],
        reasons_zh=row.get("reasons_zh"),
        source=f"score_file:{table.as_of.isoformat()}",
        rescored_because=None,
    )


# --------------------------------------------------------------------------------------------- routes
@router.get("", summary="Search entities by USCC (prefix) or name (substring)")
def search(
    principal: ReadDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=2, max_length=100, description="USCC prefix or part of the name")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchOut:
    text = q.strip()
    found = (
        lake_io.scan(settings.lake_dir, "entities")
        .filter(
            pl.col("uscc").str.starts_with(text.upper()) | pl.col("name").str.contains(text, literal=True)
        )
        .select("uscc", "name", "entity_type", "industry", "division_code", "status")
        .sort("uscc")
        .collect()
    )
    return SearchOut(
        query=text,
        total=found.height,
        entities=[EntitySummary(**r) for r in found.head(limit).iter_rows(named=True)],
    )


def date_column(table: str) -> str | None:
    spec = next(t for t in TABLES if t.name == table)
    dated = [f.name for f in spec.fields if f.name.endswith("_on") or f.name == "valid_from"]
    return dated[0] if dated else None


def _persons(settings: Settings) -> pl.LazyFrame:
    return lake_io.scan(settings.lake_dir, "persons").select(
        "person_key", pl.col("name").alias("person_name"), "id_masked"
    )


@router.get(
    "/{uscc}",
    dependencies=[audited("entities.read", target="uscc", prefix="uscc:")],
    summary="The entity's profile: registration and records by category (masked for the role)",
)
def profile(uscc: Uscc, principal: ReadDep, settings: SettingsDep) -> EntityProfile:
    reg = registration(settings, uscc)
    role = principal.role.value
    records: dict[str, list[dict[str, Any]]] = {}
    for table in RECORD_TABLES:
        frame = lake_io.scan(settings.lake_dir, table).filter(pl.col("uscc") == uscc)
        if table == "relations":
            # The person behind a key, as the role may see them (names and ID numbers masked by policy).
            frame = frame.join(_persons(settings), on="person_key", how="left")
        when = date_column(table)
        if when is not None:
            frame = frame.sort(when, descending=True, nulls_last=True)
        records[table] = masking.mask_frame(frame, audience=role, table=table).collect().to_dicts()
    return EntityProfile(
        uscc=uscc,
        registration=masking.mask_record(reg, audience=role, table="entities"),
        records=records,
        counts={k: len(v) for k, v in records.items()},
    )


def score(uscc: str, principal: Principal, settings: Settings, request: Request) -> StoredScore:
    """The stored score (blocking: the re-score lookup and the score file); the pages call it too."""
    # Its own short read, not SessionDep: that session keeps its pooled connection until after FastAPI has
    # validated the response, so under load every connection waits for a thread while every thread waits for
    # a connection (measured: bench/serve.py, docs/benchmarks.md "Serving").
    engine = get_engine(request)
    rescore = None
    if rescore_index(request).may_have(engine, uscc):  # most entities have none: no query for them
        with session_scope(engine) as session:
            rescore = rescores(session, [uscc], on=today()).get(uscc)
    found = stored_score(scores_of(request), uscc, rescore=rescore)
    if found is None:
        registration(settings, uscc)  # 404 if unknown, 422 if malformed
        raise NotFound(f"{uscc} has no stored score: run `creditwatch score --as-of DATE`", field="path.uscc")
    return found


@router.get(
    "/{uscc}/score",
    name="score",
    dependencies=[audited("entities.score", target="uscc", prefix="uscc:")],
    summary="The entity's stored score: tier, probability, model version, top reasons (zh/en)",
)
async def score_route(
    uscc: Uscc, principal: ScoreReadDep, settings: SettingsDep, request: Request
) -> StoredScore:
    # async, with the blocking work in one worker-thread hop: a sync route costs two (the handler, then
    # FastAPI's response validation), each dearer than the validation itself (docs/benchmarks.md "Serving").
    return await anyio.to_thread.run_sync(score, uscc, principal, settings, request)


@router.get(
    "/{uscc}/explanation",
    dependencies=[audited("entities.explain", target="uscc", prefix="uscc:")],
    summary="Full explanation with the serving champion: per feature and per indicator dimension",
)
def explanation(
    uscc: Uscc,
    principal: ReadDep,
    settings: SettingsDep,
    request: Request,
    as_of: Annotated[
        date | None,
        Query(
            ge=EARLIEST,
            le=LATEST,
            description="the features' date; default: the date of the entity's stored score (as "
            "`GET /entities/{uscc}/score` answers), today (China) when it has none",
        ),
    ] = None,
    top: Annotated[int, Query(ge=1, le=20, description="number of reasons")] = 5,
) -> Explanation:
    """Explains the entity's stored score from the feature row stored with it when the date is the stored
    score's (fast); any other date rebuilds the entity's features from the lake (slow: docs/api.md)."""
    from features.build import build_for_events
    from features.indicators import DIMENSIONS

    store = scores_of(request)
    with session_scope(get_engine(request)) as session:  # a short session of its own, as `score`
        rescore = rescores(session, [uscc], on=today()).get(uscc)
    stored = stored_score(store, uscc, rescore=rescore)
    if stored is None:  # a scored entity is registered: the register is scanned only for the others
        registration(settings, uscc)  # 404 if unknown, 422 if malformed
    serving = champion_of(request).current
    if serving is None:
        why = champion_of(request).last_error or "no champion is serving: train and promote a model"
        raise Unavailable(why)
    day = as_of or (stored.as_of if stored is not None else today())
    feats: pl.DataFrame | None = None
    features_from = "lake"
    # Only the score file's own date: a re-score after a decision was computed from the lake as it is now.
    if stored is not None and stored.source.startswith("score_file:") and stored.as_of == day:
        model = serving.model  # its inputs and the tier policy's override conditions
        wanted = list(dict.fromkeys([*model.feature_names, *model.policy.required_features()]))
        table = store.features.table(day)
        if table is not None and set(wanted) <= table.columns:  # else another catalog: the lake path
            feats = table.row(uscc, wanted)
            features_from = stored.source if feats is not None else "lake"
    if feats is None:
        events = pl.LazyFrame({"uscc": [uscc], "as_of": [day]})
        feats = build_for_events(lake_io.sources(settings.lake_dir), events).collect()
    one = serving.model.explain_one(feats, k=top)
    infos = {i.name: i for i in serving.model.feature_infos}
    return Explanation(
        uscc=uscc,
        as_of=day,
        model_version=serving.version,
        probability=one["probability"],
        tier=one["tier"],
        model_tier=one.get("model_tier"),
        expected_rate=one.get("expected_rate"),
        raw_score=one["raw_score"],
        base_value=one["base_value"],
        features=[
            FeatureContribution(
                feature=c["feature"],
                zh=infos[c["feature"]].zh if c["feature"] in infos else None,
                en=infos[c["feature"]].en if c["feature"] in infos else None,
                dimension=infos[c["feature"]].dimension if c["feature"] in infos else None,
                value=c["value"],
                contribution=c["contribution"],
            )
            for c in one["contributions"]
        ],
        dimensions=[
            DimensionContribution(
                dimension=d,
                zh=DIMENSIONS.get(d, (None, None))[0],
                en=DIMENSIONS.get(d, (None, None))[1],
                contribution=v,
            )
            for d, v in sorted(one["dimensions"].items(), key=lambda kv: -abs(kv[1]))
        ],
        reasons=[Reason(**r) for r in one["reasons"]],
        features_from=features_from,
    )


def _links(settings: Settings, *, as_of: date, audience: str) -> pl.DataFrame:
    """(uscc, key, kind, detail): what connects entities — a person, an address, a phone, an investment."""
    rel = valid_relations(lake_io.scan(settings.lake_dir, "relations"), as_of=as_of)
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
        .join(_persons(settings), on="person_key", how="left")
        .select(
            "uscc",
            key=pl.lit("person:") + pl.col("person_key"),
            kind=pl.lit("person"),
            detail=pl.concat_str(person_name, pl.lit(" ("), pl.col("relation_type"), pl.lit(")")),
        )
    )
    invest = rel.filter(pl.col("related_uscc").is_not_null())
    share = pl.col("share").round(4).cast(pl.String).fill_null("?")
    investments = pl.concat(
        [
            invest.select(
                "uscc",
                key=pl.lit("invest:") + pl.col("uscc") + pl.lit(">") + pl.col("related_uscc"),
                kind=pl.lit("investment"),
                detail=pl.concat_str(
                    pl.col("uscc"), pl.lit(" invests in "), pl.col("related_uscc"), pl.lit(", share "), share
                ),
            ),
            invest.select(
                pl.col("related_uscc").alias("uscc"),
                key=pl.lit("invest:") + pl.col("uscc") + pl.lit(">") + pl.col("related_uscc"),
                kind=pl.lit("investment"),
                detail=pl.concat_str(
                    pl.col("uscc"), pl.lit(" invests in "), pl.col("related_uscc"), pl.lit(", share "), share
                ),
            ),
        ]
    )
    ents = lake_io.scan(settings.lake_dir, "entities")
    addr_seen = masking.visibility(masking.Kind.ADDRESS, audience)
    phone_seen = masking.visibility(masking.Kind.PHONE, audience)
    address = pl.col("address") if addr_seen == masking.FULL else pl.lit("(address masked for this role)")
    phone = pl.col("phone") if phone_seen == masking.FULL else pl.lit("(phone hidden for this role)")
    shared = pl.concat(
        [
            ents.select("uscc", norm=normalise_address(pl.col("address")), detail=address, kind=pl.lit("shared_address")),
            ents.select("uscc", norm=normalise_phone(pl.col("phone")), detail=phone, kind=pl.lit("shared_phone")),
        ]
    ).filter(pl.col("norm").is_not_null()).select(
        "uscc", key=pl.col("kind") + pl.lit(":") + pl.col("norm"), kind="kind", detail="detail"
    )  # fmt: skip
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


@router.get(
    "/{uscc}/related",
    dependencies=[audited("entities.related", target="uscc", prefix="uscc:")],
    summary="Related parties at one and two hops, with why each is related",
)
def related(
    uscc: Uscc,
    principal: ReadDep,
    settings: SettingsDep,
    as_of: Annotated[
        date | None, Query(ge=EARLIEST, le=LATEST, description="relations valid on this date; default today")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many related entities")] = 100,
) -> RelatedOut:
    registration(settings, uscc)
    day = as_of or today()
    links = _links(settings, as_of=day, audience=principal.role.value)
    one = _neighbours(links, [uscc])
    first = sorted(set(one["uscc"].to_list()))
    two = _neighbours(links, first).filter(~pl.col("uscc").is_in([uscc, *first])) if first else one.clear()
    names = dict(
        lake_io.scan(settings.lake_dir, "entities")
        .filter(pl.col("uscc").is_in([*first, *two["uscc"].to_list()]))
        .select("uscc", "name")
        .collect()
        .iter_rows()
    )
    out: list[Related] = []
    for u in first:
        rows = one.filter(pl.col("uscc") == u).sort("kind", "detail")
        why = [Relation(kind=r["kind"], detail=r["detail"]) for r in rows.iter_rows(named=True)]
        out.append(Related(uscc=u, name=names.get(u), hops=1, via=None, why=why))
    for u in sorted(set(two["uscc"].to_list())):
        rows = two.filter(pl.col("uscc") == u).sort("from_uscc", "kind", "detail")
        via = rows["from_uscc"][0]
        why = [Relation(kind=r["kind"], detail=r["detail"]) for r in rows.filter(pl.col("from_uscc") == via).iter_rows(named=True)]  # fmt: skip
        out.append(Related(uscc=u, name=names.get(u), hops=2, via=via, why=why))
    return RelatedOut(uscc=uscc, as_of=day, related=out[:limit])


@router.get(
    "/{uscc}/history",
    dependencies=[audited("entities.history", target="uscc", prefix="uscc:")],
    summary="The entity's scores and tiers over the stored score files",
)
def history(
    uscc: Uscc, principal: ReadDep, settings: SettingsDep, request: Request, session: SessionDep
) -> HistoryOut:
    registration(settings, uscc)
    points = [
        HistoryPoint(**r, source=f"score_file:{r['as_of'].isoformat()}")
        for r in scores_of(request).history(uscc)
    ]
    points += [
        HistoryPoint(as_of=e.as_of, tier=e.tier, probability=e.probability, model_version=e.model_version,
                     source=f"score_history:{e.id}")
        for e in score_history.history(session, uscc)
    ]  # fmt: skip
    # By the features' date; on the same day the full scoring run first, then the re-scores in order.
    points.sort(key=lambda p: (p.as_of, p.source.startswith("score_history"), p.source))
    return HistoryOut(uscc=uscc, scores=points)
