"""The embedded check (逢办必查) for other government systems, and the catalog of restriction measures.

A check answers for one entity and one matter: the restrictions that apply, the entity's list statuses
(every department's: joint punishment is every department's to apply) and its tier; it is stored with a
hash of the answer (query mode). The catalog is configuration.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import Context, use_case
from serving.services.lifecycle_types import read_day, tier_lookup
from serving.services.lists import AccountablePerson
from supervision.lifecycle import restrictions
from supervision.platform.access import Role

__all__ = ["CheckView", "ListStatus", "MeasureView", "catalog", "check"]


class MeasureView(BaseModel):
    """One restriction measure of the catalog (惩戒措施清单)."""

    model_config = ConfigDict(frozen=True)

    list_type: str
    matter: str
    subject: Literal["entity", "person"]
    restriction: str
    basis: str = Field(description="the legal basis")
    confidence: Literal["V", "P", "U"]


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


class CheckView(BaseModel):
    """The answer to one check: restrictions for the matter, list statuses, accountable persons, tier."""

    model_config = ConfigDict(frozen=True)

    check_id: int
    uscc: str
    matter: str
    on: date
    tier: str | None = Field(description="the current tier (score history or latest score file), if any")
    restricted: bool
    lists: list[ListStatus]
    restrictions: list[MeasureView]
    persons: list[AccountablePerson]


@use_case("check", roles=(Role.SYSTEM,))
def check(ctx: Context, *, uscc: str, matter: str, on: date | None = None) -> CheckView:
    """Restrictions, list statuses and tier of one entity for one matter, in one call; the check is stored."""
    day = read_day(ctx, on)
    result = restrictions.check(
        ctx.session,
        ctx.sources(),
        caller=ctx.lifecycle_actor,
        uscc=uscc,
        matter=matter,
        on=day,
        tiers=tier_lookup(ctx, day),
        measures=ctx.measures(),
    )
    ctx.audit(
        "check",
        target=f"uscc:{uscc}",
        details={"matter": matter, "restricted": result.restricted, "check_id": result.check_id},
    )
    return CheckView.model_validate(result.as_dict())


# The catalog is configuration: readable on one's own machine too (no token).
@use_case("restrictions.catalog", roles=None, public=True)
def catalog(ctx: Context) -> list[MeasureView]:
    """The catalog of restriction measures, by list type, matter and subject."""
    rows = restrictions.catalog_frame(ctx.measures()).to_dicts()
    ctx.audit("restrictions.catalog", target="restrictions", details={"rows": len(rows)}, read=True)
    return [MeasureView.model_validate(row) for row in rows]
