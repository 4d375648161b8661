"""What the lifecycle routers share: the acting principal, today's date in China, the lake and the policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from features import lake as lake_io
from serving.api import masking
from serving.api.deps import Principal
from serving.settings import Settings
from supervision.records import Lake
from supervision.regimes import Policy, load_policy
from supervision.workflow import Actor

CHINA = ZoneInfo("Asia/Shanghai")


def actor(principal: Principal) -> Actor:
    return Actor(principal.actor, role=principal.role.value)


def today() -> date:
    """The date in China: deadlines are counted in Chinese working days."""
    return datetime.now(CHINA).date()


def lake(settings: Settings) -> Lake:
    return Lake(dir=settings.lake_dir, salt=settings.person_salt)


def sources(settings: Settings) -> Mapping[str, pl.LazyFrame]:
    return lake_io.sources(settings.lake_dir)


def policy(settings: Settings) -> Policy:
    return load_policy(settings.lifecycle_policy)


def name_masker(audience: str) -> Callable[[str], str]:
    """How `audience` (a role or ``public``) sees a natural person's name under the masking policy."""
    seen = masking.visibility(masking.Kind.PERSON_NAME, audience)
    if seen == masking.FULL:
        return lambda v: v
    if seen == masking.MASKED:
        return masking.mask_name
    return lambda v: "***"
