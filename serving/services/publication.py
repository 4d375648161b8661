"""What the policy publishes, for the public without signing in: the 信用承诺 column, the catalog of
punishment and incentive measures, the red and black lists and the court-debtor list as they stand today,
and the verification of a credit report by its number.

Every use case admits the anonymous public (``public=True``) and every role; a list is paged (``per_page`` at
most :data:`MAX_PER_PAGE`). What the public sees is the legal state on the day (China): a list entry that
exited, ran out, was repaired or was revoked on an objection is gone (``features.lifecycle``); a listing
decided here appears once it is published (``list_cases.published_on``, SAMR Order 44: 20 WD); a record of an
entity whose legal representative was a minor on the record's day is never shown (domain-rules §9.2, §9.3);
a natural person's name is masked as the public sees it (``masking.name_masker(PUBLIC)``: the name of an
individual business is its operator's, so it is masked too) and free text goes through
``masking.mask_free_text``. A report's verification answers whether, when and for whom it was issued and
whether a hash matches, never its content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from features.lifecycle import lifecycle_sources, list_entry_end
from features.uscc import PATTERN as USCC_PATTERN
from serving.services.checks import IncentiveView, MeasureView
from serving.services.context import Context, use_case
from serving.services.lifecycle_types import name_masker
from serving.services.public_views import cached_view, table_state
from supervision.lifecycle import commitments, reports, restrictions
from supervision.lifecycle.lists import ListCase
from supervision.platform.errors import DomainError
from supervision.platform.masking import PUBLIC, mask_free_text, minor_by_year

__all__ = [
    "MAX_PER_PAGE",
    "PUBLISHED_LISTS",
    "CommitmentPage",
    "ListingPage",
    "MeasureCatalog",
    "PublicationError",
    "PublishedCommitment",
    "PublishedListing",
    "ReportCheck",
    "commitments_column",
    "court_debtors",
    "measures",
    "published_lists",
    "verify_report",
    "without_minors",
]

MAX_PER_PAGE = 100
# The red and black lists of the public list page; the court's list (失信被执行人) has a page of its own.
PUBLISHED_LISTS = ("severe_dishonesty", "abnormal_operations", "red_list")
COURT_LIST = "court_dishonest_debtor"
# The number `supervision.lifecycle.reports.build` gives a report: CR-<USCC>-<as-of YYYYMMDD>-<10 hex>.
REPORT_NO = re.compile(r"^CR-" + USCC_PATTERN.strip("^$") + r"-[0-9]{8}-[0-9A-F]{10}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PublicationError(DomainError, ValueError):
    """A public question that cannot be answered as asked (a malformed report number, a page out of range)."""


# ------------------------------------------------------------------------------------------------ models
class PublishedCommitment(BaseModel):
    """One row of the public 信用承诺 column: a commitment made here or one ingested into the lake."""

    model_config = ConfigDict(frozen=True)

    commitment_id: str
    uscc: str
    name: str | None = Field(
        description="the entity's name (an individual business's masked: its operator's)"
    )
    commitment_type: str | None
    title: str = Field(description="the matter committed to")
    text: str | None = Field(description="the commitment's text (numbers masked; none for ingested ones)")
    licence_id: str | None
    signatory: str | None = Field(description="who signed, masked")
    made_on: date
    due_on: date | None
    status: Literal["pending", "fulfilled", "breached", "interviewed", "revoked"] = Field(
        description="`revoked`: the breach determination was revoked on an objection"
    )
    determined_on: date | None
    source: Literal["here", "lake"] = Field(description="made here, or ingested from another department")


class CommitmentPage(BaseModel):
    """A page of the 信用承诺 column, newest first."""

    model_config = ConfigDict(frozen=True)

    total: int = Field(description="rows in the whole column")
    page: int
    per_page: int
    items: list[PublishedCommitment]


class MeasureCatalog(BaseModel):
    """The catalog of punishment measures (惩戒措施清单) and of incentive measures (守信激励措施)."""

    model_config = ConfigDict(frozen=True)

    restrictions: list[MeasureView]
    incentives: list[IncentiveView]


class PublishedListing(BaseModel):
    """An entity on a red or black list (or the court's list) on the day, as published."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    uscc: str
    name: str | None = Field(
        description="the entity's name (an individual business's masked: its operator's)"
    )
    list_type: str
    basis: str = Field(description="the legal basis of the listing")
    basis_document_no: str | None = Field(description="the determination document (认定文书号)")
    reason: str | None = Field(description="the listing's reason (numbers masked)")
    authority: str = Field(description="the listing authority (认定单位)")
    listed_on: date
    planned_end: date | None = Field(description="the day the listing ends at the latest, if set")
    source: Literal["here", "lake"] = Field(description="decided here (once published), or ingested")


class ListingPage(BaseModel):
    """A page of a published list, newest listing first."""

    model_config = ConfigDict(frozen=True)

    on: date = Field(description="the day the list stands on (today, China)")
    list_types: list[str] = Field(description="the lists shown")
    total: int
    page: int
    per_page: int
    items: list[PublishedListing]


class ReportCheck(BaseModel):
    """Whether a credit report with this number was issued (and when, for which USCC), and whether a hash
    matches it; never the report's content."""

    model_config = ConfigDict(frozen=True)

    report_no: str
    issued: bool
    uscc: str | None = Field(description="the entity the report is about (a USCC is public)")
    as_of: date | None = Field(description="the day the report's information stands on")
    issued_at: datetime | None = Field(description="when it was issued")
    hash_checked: bool = Field(description="a hash was given")
    hash_matches: bool | None = Field(
        description="the hash given is the report's (None: none given, or no report)"
    )


# --------------------------------------------------------------------------------------------- helpers
def _page(page: int, per_page: int) -> tuple[int, int]:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise PublicationError(f"per_page {per_page}: between 1 and {MAX_PER_PAGE}", field="per_page")
    if not 1 <= page <= 1_000_000:
        raise PublicationError(f"page {page}: between 1 and 1000000", field="page")
    return page, per_page


def _minor_usccs(sources: Mapping[str, pl.LazyFrame], records: pl.DataFrame, day_column: str) -> set[str]:
    """USCCs of `records` whose legal representative was (possibly) a minor on the record's day: those
    records are never published (§9.2, §9.3; a birth year alone counts through the year one turns 18)."""
    if records.is_empty():
        return set()
    minors = (
        sources["relations"]
        .filter(pl.col("relation_type") == "legal_representative")
        .join(sources["persons"].select("person_key", "birth_year"), on="person_key")
        .select("uscc", "birth_year")
        .join(records.lazy().select("uscc", pl.col(day_column).alias("day")), on="uscc")
        .filter(pl.col("birth_year").is_not_null() & minor_by_year(pl.col("birth_year"), pl.col("day")))
        .select("uscc")
        .unique()
        .collect()
    )
    return set(minors["uscc"])


def _names(sources: Mapping[str, pl.LazyFrame], usccs: Iterable[str]) -> dict[str, str | None]:
    """The public names of `usccs`: the registered name; an individual business's masked (its operator's)."""
    wanted = sorted(set(usccs))
    if not wanted:
        return {}
    mask = name_masker(PUBLIC)
    rows = (
        sources["entities"]
        .filter(pl.col("uscc").is_in(wanted))
        .select("uscc", "name", "entity_type")
        .unique(subset=["uscc"], keep="last", maintain_order=True)
        .collect()
    )
    return {
        r["uscc"]: (mask(r["name"]) if r["entity_type"] == "individual_business" and r["name"] else r["name"])
        for r in rows.to_dicts()
    }


def without_minors(
    sources: Mapping[str, pl.LazyFrame], rows: list[dict[str, Any]], day_column: str
) -> list[dict[str, Any]]:
    """`rows` (with ``uscc`` and `day_column`) without those of an entity whose legal representative was a
    minor on the row's day (:func:`_minor_usccs`): what any public output keeps."""
    if not rows:
        return rows
    frame = pl.DataFrame(
        [{"uscc": r["uscc"], day_column: r[day_column]} for r in rows],
        schema={"uscc": pl.String, day_column: pl.Date},
    )
    minors = _minor_usccs(sources, frame, day_column)
    return [r for r in rows if r["uscc"] not in minors]


# ------------------------------------------------------------------------------------------ commitments
def commitment_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every commitment the public sees (:func:`_commitment_rows`), built once per state of the lake and the
    commitments register (serving/services/public_views.py): the public pages page through it."""
    c = commitments.Commitment
    state = table_state(ctx, sa.func.count(), sa.func.max(c.updated_at))
    return cached_view(
        ctx, "publication.commitments", lambda: _commitment_rows(ctx), day=ctx.today, db_state=state
    )


def _commitment_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every commitment the public sees: made here (the DB's, signatory masked) and ingested (the lake's,
    not made here), the breach determination revoked on an objection shown as such."""
    sources = ctx.sources()
    mask = name_masker(PUBLIC)
    here = commitments.public_export(ctx.session, mask_name=mask).to_dicts()
    made = sa.select(commitments.Commitment.commitment_id, commitments.Commitment.commitment_type)
    types: dict[str, str] = {cid: kind for cid, kind in ctx.session.execute(made)}
    # The legal state today: a breach determination revoked on an objection is voided (fulfilment null).
    seen = lifecycle_sources(sources, as_of=ctx.today + timedelta(days=1))["commitments"].collect()
    voided = set(seen.filter(pl.col("fulfilment").is_null())["commitment_id"])
    rows: list[dict[str, Any]] = []
    for r in here:
        status = r["status"]
        if status in ("breached", "interviewed") and r["commitment_id"] in voided:
            status = "revoked"
        rows.append(
            {
                **r,
                "status": status,
                "commitment_type": types.get(r["commitment_id"]),
                "source": "here",
            }
        )
    known = {r["commitment_id"] for r in here}
    for r in seen.filter(~pl.col("commitment_id").is_in(sorted(known))).to_dicts():
        rows.append(
            {
                "commitment_id": r["commitment_id"],
                "uscc": r["uscc"],
                "commitment_type": r["commitment_type"],
                "title": mask_free_text(r["matter"]) or "",
                "text": None,
                "licence_id": r["licence_id"],
                "signatory": None,
                "made_on": r["made_on"],
                "due_on": r["due_on"],
                "status": r["fulfilment"] or "revoked",
                "determined_on": r["fulfilment_on"] if r["fulfilment"] else None,
                "source": "lake",
            }
        )
    rows = without_minors(sources, rows, "made_on")
    rows.sort(key=lambda r: (r["made_on"], r["commitment_id"]), reverse=True)
    names = _names(sources, (r["uscc"] for r in rows))
    return [{**r, "name": names.get(r["uscc"])} for r in rows]


@use_case("publication.commitments", roles=None, public=True)
def commitments_column(ctx: Context, *, page: int = 1, per_page: int = 50) -> CommitmentPage:
    """The 信用承诺 column: every commitment made here or ingested, newest first, one page of it."""
    page, per_page = _page(page, per_page)
    rows = commitment_rows(ctx)
    chosen = rows[(page - 1) * per_page : page * per_page]
    ctx.audit("publication.commitments", target="commitments", details={"rows": len(rows)}, read=True)
    return CommitmentPage(
        total=len(rows),
        page=page,
        per_page=per_page,
        items=[PublishedCommitment.model_validate(r) for r in chosen],
    )


# --------------------------------------------------------------------------------------------- measures
@use_case("publication.measures", roles=None, public=True)
def measures(ctx: Context) -> MeasureCatalog:
    """The catalog of punishment measures and of incentive measures (configuration, published whole)."""
    rows = restrictions.catalog_frame(ctx.measures()).to_dicts()
    incentives = restrictions.incentive_frame(
        restrictions.load_incentives(ctx.settings.restriction_catalog)
    ).to_dicts()
    ctx.audit("publication.measures", target="restrictions", details={"rows": len(rows)}, read=True)
    return MeasureCatalog(
        restrictions=[MeasureView.model_validate(r) for r in rows],
        incentives=[IncentiveView.model_validate(r) for r in incentives],
    )


# ------------------------------------------------------------------------------------------------ lists
def _listings(ctx: Context, list_types: tuple[str, ...], *, uscc: str | None) -> list[dict[str, Any]]:
    """:func:`_build_listings` of every entity, built once per state of the lake and the list register
    (public_views), then narrowed to `uscc` (so asking for many USCCs does not push the lists out)."""
    state = table_state(ctx, sa.func.count(ListCase.case_id), sa.func.max(ListCase.updated_at))
    rows: list[dict[str, Any]] = cached_view(
        ctx,
        f"publication.lists:{','.join(list_types)}",
        lambda: _build_listings(ctx, list_types),
        day=ctx.today,
        db_state=state,
    )
    return rows if uscc is None else [r for r in rows if r["uscc"] == uscc]


def _build_listings(ctx: Context, list_types: tuple[str, ...]) -> list[dict[str, Any]]:
    """Entries of `list_types` in force today: the lake's (exits, planned ends, repairs and revocations
    applied as of today), a case decided here only once published; newest first, minors' left out."""
    day = ctx.today
    sources = ctx.sources()
    # Decisions dated today apply (features see decisions strictly before as_of, hence the day after).
    seen = lifecycle_sources(sources, as_of=day + timedelta(days=1))["list_entries"]
    end = list_entry_end()
    in_force = seen.filter(
        pl.col("list_type").is_in(list(list_types))
        & (pl.col("listed_on") <= day)
        & (end.is_null() | (end > day))
    )
    lake_rows = in_force.collect().to_dicts()
    cases = {
        c.case_id: c
        for c in ctx.session.scalars(sa.select(ListCase).where(ListCase.list_type.in_(list_types)))
    }

    def published(case: ListCase) -> bool:
        return (
            case.status in ("listed", "rectified")
            and case.published_on is not None
            and case.published_on <= day
            and case.listed_on is not None
            and case.listed_on <= day
            and (case.max_end is None or case.max_end > day)
        )

    rows: list[dict[str, Any]] = []
    for r in lake_rows:
        case = cases.get(r["entry_id"])
        if case is not None and not published(case):
            continue  # decided here: public once published (and while the case stands)
        rows.append(
            {
                "entry_id": r["entry_id"],
                "uscc": r["uscc"],
                "list_type": r["list_type"],
                "basis": r["basis"],
                "basis_document_no": r["basis_document_no"],
                "reason": mask_free_text(r["reason"]),
                "authority": r["authority"],
                "listed_on": r["listed_on"],
                "planned_end": r["planned_end"],
                "source": "here" if case is not None else "lake",
            }
        )
    in_lake = {r["entry_id"] for r in lake_rows}
    for case in cases.values():
        # A published case the lake has not received (written without a lake): still the list's.
        if case.case_id in in_lake or not published(case):
            continue
        assert case.listed_on is not None
        rows.append(
            {
                "entry_id": case.case_id,
                "uscc": case.uscc,
                "list_type": case.list_type,
                "basis": case.basis,
                "basis_document_no": case.basis_document_no,
                "reason": mask_free_text(case.reasons),
                "authority": case.department,
                "listed_on": case.listed_on,
                "planned_end": case.max_end,
                "source": "here",
            }
        )
    rows = without_minors(sources, rows, "listed_on")
    rows.sort(key=lambda r: (r["listed_on"], r["entry_id"]), reverse=True)
    names = _names(sources, (r["uscc"] for r in rows))
    return [{**r, "name": names.get(r["uscc"])} for r in rows]


def _listing_page(
    ctx: Context, action: str, list_types: tuple[str, ...], *, uscc: str | None, page: int, per_page: int
) -> ListingPage:
    page, per_page = _page(page, per_page)
    if uscc is not None and not re.fullmatch(USCC_PATTERN.strip("^$"), uscc):
        raise PublicationError(f"uscc {uscc[:40]!r}: not a USCC (18 characters, GB 32100)", field="uscc")
    rows = _listings(ctx, list_types, uscc=uscc)
    chosen = rows[(page - 1) * per_page : page * per_page]
    ctx.audit(action, target="lists", details={"lists": list(list_types), "rows": len(rows)}, read=True)
    return ListingPage(
        on=ctx.today,
        list_types=list(list_types),
        total=len(rows),
        page=page,
        per_page=per_page,
        items=[PublishedListing.model_validate(r) for r in chosen],
    )


@use_case("publication.lists", roles=None, public=True)
def published_lists(
    ctx: Context,
    *,
    list_type: str | None = None,
    uscc: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> ListingPage:
    """The red and black lists as published today (one list, or all three), newest listing first."""
    if list_type is not None and list_type not in PUBLISHED_LISTS:
        raise PublicationError(
            f"list_type {list_type[:40]!r}: one of {', '.join(PUBLISHED_LISTS)}", field="list_type"
        )
    chosen = PUBLISHED_LISTS if list_type is None else (list_type,)
    return _listing_page(ctx, "publication.lists", chosen, uscc=uscc, page=page, per_page=per_page)


@use_case("publication.court_debtors", roles=None, public=True)
def court_debtors(ctx: Context, *, uscc: str | None = None, page: int = 1, per_page: int = 50) -> ListingPage:
    """The court's list of dishonest judgment debtors (失信被执行人) in force today, newest first."""
    return _listing_page(
        ctx, "publication.court_debtors", (COURT_LIST,), uscc=uscc, page=page, per_page=per_page
    )


# ---------------------------------------------------------------------------------------------- reports
def report_number(text: str) -> str:
    """`text` as a report number (trimmed, upper case), or a clear refusal naming the form."""
    number = text.strip().upper()
    if not REPORT_NO.fullmatch(number):
        raise PublicationError(
            "report_no: not a report number (CR-<USCC>-<YYYYMMDD>-<10 hexadecimal characters>, as printed "
            "on the report)",
            field="report_no",
        )
    return number


@use_case("publication.verify_report", roles=None, public=True)
def verify_report(ctx: Context, report_no: str, *, content_hash: str | None = None) -> ReportCheck:
    """Was a report with this number issued (when, about which USCC), and is `content_hash` its SHA-256?"""
    number = report_number(report_no)
    digest = None
    if content_hash is not None and content_hash.strip():
        digest = content_hash.strip().lower()
        if not SHA256.fullmatch(digest):
            raise PublicationError("hash: the report's SHA-256, 64 hexadecimal characters", field="hash")
    found = ctx.session.get(reports.CreditReport, number)
    ctx.audit(
        "publication.verify_report",
        target=f"report:{number}",
        details={"issued": found is not None},
        read=True,
    )
    if found is None:
        return ReportCheck(
            report_no=number,
            issued=False,
            uscc=None,
            as_of=None,
            issued_at=None,
            hash_checked=digest is not None,
            hash_matches=None,
        )
    return ReportCheck(
        report_no=number,
        issued=True,
        uscc=found.uscc,
        as_of=found.as_of,
        issued_at=found.generated_at,
        hash_checked=digest is not None,
        hash_matches=None if digest is None else found.content_sha256 == digest,
    )
