"""Sector risk (analysts, supervisors): risk across districts × industry sections — entities, mean
probability, share in C/D, realised violation rate — its trend over the score runs, and the report (HTML or
XLSX) — :mod:`serving.services.sectors`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from serving.api.deps import context_dep
from serving.api.routers.entities import Out
from serving.services import sectors
from serving.services.context import Context

router = APIRouter(prefix="/sectors", tags=["sectors"])

ByParam = Literal["district_section", "district", "section"]


class SectorRowOut(Out):
    district: str | None = Field(
        description="registration division code (GB/T 2260); null: unknown or not grouped by"
    )
    section: str | None = Field(
        description="industry section letter A–T (GB/T 4754); null: unknown or not grouped by"
    )
    section_zh: str | None
    section_en: str | None
    entities: int = Field(description="entities the run scored in the cell")
    mean_probability: float | None = Field(description="their mean predicted violation probability")
    share_cd: float | None = Field(description="share of them in tier C or D")
    inspections: int = Field(description="inspections judged against the score their entity had that day")
    violations: int
    violation_rate: float | None = Field(description="violations / inspections; null below min_n inspections")
    sufficient: bool = Field(description="enough inspections (min_n) to show the realised rate")


class SectorTableOut(Out):
    as_of: date = Field(description="the score run")
    by: ByParam
    model_version: str | None
    min_n: int = Field(description="inspections needed to show a realised rate (monitoring policy)")
    entities: int
    inspections: int
    left_out: dict[str, int] = Field(description="inspections not judged, by reason")
    runs: list[date] = Field(description="the valid score runs up to as_of")
    rows: list[SectorRowOut]


class TrendPointOut(Out):
    run: date
    district: str | None
    section: str | None
    section_zh: str | None
    section_en: str | None
    entities: int
    mean_probability: float
    share_cd: float


class SectorTrendOut(Out):
    by: ByParam
    runs: list[date]
    points: list[TrendPointOut]


REPORT = {
    "description": "The sector risk report as a download",
    "content": {
        "text/html": {"schema": {"type": "string"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}
        },
    },
    "headers": {
        "Content-Disposition": {"description": "attachment; the file name", "schema": {"type": "string"}}
    },
}


@router.get("", summary="Risk per district × industry section of a score run")
def table(
    ctx: Annotated[Context, context_dep(sectors.table)],
    as_of: Annotated[date | None, Query(description="the run (default: the newest)")] = None,
    by: Annotated[ByParam, Query(description="the cells")] = "district_section",
) -> SectorTableOut:
    return SectorTableOut.model_validate(sectors.table(ctx, as_of=as_of, by=by))


@router.get("/trend", summary="Mean probability and share in C/D per cell over the score runs")
def trend(
    ctx: Annotated[Context, context_dep(sectors.trend)],
    by: Annotated[ByParam, Query(description="the cells")] = "section",
) -> SectorTrendOut:
    return SectorTrendOut.model_validate(sectors.trend(ctx, by=by))


@router.get(
    "/report",
    response_class=Response,
    responses={200: REPORT},
    summary="The sector risk report (HTML or XLSX)",
)
def report(
    ctx: Annotated[Context, context_dep(sectors.report)],
    as_of: Annotated[date | None, Query(description="the run (default: the newest)")] = None,
    format: Annotated[Literal["html", "xlsx"], Query()] = "html",
) -> Response:
    made = sectors.report(ctx, as_of=as_of, format=format)
    return Response(
        made.content,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )
