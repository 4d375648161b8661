"""The embedded check (逢办必查) for other government systems, and the catalog of restriction and incentive
measures.

A check answers for one entity and one matter: the restrictions that apply, the incentives it qualifies for
(red list, tier A), whether documents named as missing are accepted (容缺受理), the entity's list statuses
(every department's: joint punishment is every department's to apply) and its tier with the date of the
score it comes from; it is stored with a hash of the answer (query mode). ``commitments make`` runs the same
check (:func:`evaluate`) before a 告知承诺. The catalog is configuration.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.lifecycle_types import read_day
from supervision.lifecycle import restrictions
from supervision.platform.access import Role

__all__ = [
    "CheckView",
    "CheckedPerson",
    "IncentiveGranted",
    "IncentiveView",
    "ListStatus",
    "MeasureView",
    "MissingDocuments",
    "catalog",
    "check",
    "evaluate",
    "incentives",
]


class MeasureView(BaseModel):
    """One restriction measure of the catalog (惩戒措施清单)."""

    model_config = ConfigDict(frozen=True)

    list_type: str
    matter: str
    subject: Literal["entity", "person"]
    restriction: str
    basis: str = Field(description="the legal basis")
    confidence: Literal["V", "P", "U"]
    no_commitment: bool = Field(
        False, description="the check answers 不适用告知承诺制 (no 告知承诺 is accepted)"
    )


class IncentiveView(BaseModel):
    """One incentive measure of the catalog (守信激励措施): the matters it applies to and who qualifies."""

    model_config = ConfigDict(frozen=True)

    code: str
    name_zh: str
    name_en: str
    basis: str = Field(description="the legal basis")
    confidence: Literal["V", "P", "U"]
    accepts_missing_documents: bool = Field(description="容缺受理: a missing document may follow the filing")
    matters: list[str]
    lists: list[str] = Field(description="entities on these lists qualify (红名单)")
    tiers: list[str] = Field(description="entities whose current tier is one of these qualify")


class IncentiveGranted(BaseModel):
    """An incentive the checked entity qualifies for, and why."""

    model_config = ConfigDict(frozen=True)

    code: str
    name_zh: str
    name_en: str
    basis: str = Field(description="the legal basis")
    confidence: Literal["V", "P", "U"]
    accepts_missing_documents: bool
    qualified_by: list[str] = Field(description="`list:red_list`, `tier:A`")


class MissingDocuments(BaseModel):
    """The answer on documents named as missing: accepted (容缺受理 granted) or required, and why."""

    model_config = ConfigDict(frozen=True)

    documents: list[str]
    accepted: bool
    incentive: str | None = Field(description="the incentive that accepts them (容缺受理), when accepted")
    basis: str | None
    reason: str


class ListStatus(BaseModel):
    """An active list entry: from the lake (objections and repairs applied) or an open case not yet there."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    list_type: str
    listed_on: date | None
    planned_end: date | None
    authority: str | None
    basis_document_no: str | None
    source: Literal["lake", "case"]


class CheckedPerson(BaseModel):
    """An accountable person of the checked entity, as another government system sees it: the relation only.

    No person key: the masking table (supervision/platform/masking.py) hides it from the system role, and
    a key is a linkable pseudonym the caller has no use for.
    """

    model_config = ConfigDict(frozen=True)

    relation_type: str


class CheckView(BaseModel):
    """The answer to one check: restrictions for the matter, list statuses, accountable persons, tier."""

    model_config = ConfigDict(frozen=True)

    check_id: int
    uscc: str
    matter: str
    on: date
    tier: str | None = Field(description="the current tier (score history or latest score file), if any")
    score_as_of: date | None = Field(
        description="the date of the score the tier comes from (with every tier)"
    )
    restricted: bool
    lists: list[ListStatus]
    restrictions: list[MeasureView]
    persons: list[CheckedPerson]
    incentives: list[IncentiveGranted] = Field(description="守信激励 the entity qualifies for in this matter")
    incentives_withheld: str | None = Field(description="why no incentive is given (a dishonesty list)")
    missing_documents: MissingDocuments | None = Field(description="the answer on documents named as missing")


def evaluate(
    ctx: Context, *, uscc: str, matter: str, day: date, missing_documents: list[str] | None = None
) -> restrictions.CheckResult:
    """The check of one entity and matter on `day`, stored (query mode): the one composition of catalog,
    incentives, current score and lake that the check and ``commitments make`` share."""

    def scored(code: str) -> tuple[str, date] | None:
        found = current_score.score_row(ctx.settings, code, day, ctx.session)
        return None if found is None else (found.tier, found.score_as_of)

    return restrictions.check(
        ctx.session,
        ctx.sources(),
        caller=ctx.lifecycle_actor,
        uscc=uscc,
        matter=matter,
        on=day,
        scores=scored,
        measures=ctx.measures(),
        incentives=restrictions.load_incentives(ctx.settings.restriction_catalog),
        missing_documents=missing_documents,
    )


@use_case("check", roles=(Role.SYSTEM,))
def check(
    ctx: Context,
    *,
    uscc: str,
    matter: str,
    on: date | None = None,
    missing_documents: list[str] | None = None,
) -> CheckView:
    """Restrictions, incentives, list statuses and tier of one entity for one matter, in one call, and
    whether documents named as missing are accepted (容缺受理); the check is stored."""
    day = read_day(ctx, on)
    result = evaluate(ctx, uscc=uscc, matter=matter, day=day, missing_documents=missing_documents)
    ctx.audit(
        "check",
        target=f"uscc:{uscc}",
        details={
            "matter": matter,
            "restricted": result.restricted,
            "incentives": [i["code"] for i in result.incentives],
            "check_id": result.check_id,
        },
    )
    return CheckView.model_validate(result.as_dict())


# The catalog is configuration: readable on one's own machine too (no token).
@use_case("restrictions.catalog", roles=None, public=True)
def catalog(ctx: Context) -> list[MeasureView]:
    """The catalog of restriction measures, by list type, matter and subject."""
    rows = restrictions.catalog_frame(ctx.measures()).to_dicts()
    ctx.audit("restrictions.catalog", target="restrictions", details={"rows": len(rows)}, read=True)
    return [MeasureView.model_validate(row) for row in rows]


# The catalog is configuration: readable on one's own machine too (no token).
@use_case("incentives.catalog", roles=None, public=True)
def incentives(ctx: Context) -> list[IncentiveView]:
    """The catalog of incentive measures (守信激励措施), in catalog order."""
    rows = restrictions.incentive_frame(
        restrictions.load_incentives(ctx.settings.restriction_catalog)
    ).to_dicts()
    ctx.audit("incentives.catalog", target="incentives", details={"rows": len(rows)}, read=True)
    return [IncentiveView.model_validate(row) for row in rows]
