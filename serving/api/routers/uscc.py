"""``GET /uscc/{code}``: the GB 32100-2015 verdict on one Unified Social Credit Code (any role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field

from features import uscc
from serving.api.deps import AnyRoleDep, SettingsDep
from serving.api.routers.entities import Out
from serving.services import entities

router = APIRouter(tags=["uscc"])


class UsccVerdict(Out):
    code: str
    status: uscc.Status
    ok: bool = Field(description="whether a record carrying this code is accepted")
    reason: str
    entity_type: str | None = Field(description="registration authority and entity type (positions 1-2)")
    division_code: str | None = Field(description="GB/T 2260 division code (positions 3-8)")


@router.get("/uscc/{code}", summary="Check a Unified Social Credit Code (统一社会信用代码)")
def check_uscc(
    code: Annotated[
        str, Path(min_length=1, max_length=64, description="the code as written; no normalisation")
    ],
    principal: AnyRoleDep,
    settings: SettingsDep,
) -> UsccVerdict:
    # A code that fails the check is a valid answer (ok=false with the reason), not an error of the request.
    return UsccVerdict.model_validate(entities.check_codes([code], allow=settings.uscc_allow_list)[0])
