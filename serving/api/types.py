"""Input types every router shares, declared once: the USCC in a body, a query or a path.

The format (GB 32100 charset, six-digit division) is checked at the door so a malformed code is a 422 that
names the field; the check character (mod 31) and the allow-list are the domain's (``features.uscc``),
which the services apply where a code must exist or be valid.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from features.uscc import PATTERN

__all__ = ["BackdateReason", "OnIn", "Uscc", "UsccPath"]

_DESCRIPTION = "Unified Social Credit Code (统一社会信用代码): 18 characters, GB 32100"

Uscc = Annotated[str, Field(min_length=18, max_length=18, pattern=PATTERN, description=_DESCRIPTION)]
UsccPath = Annotated[str, Path(min_length=18, max_length=18, pattern=PATTERN, description=_DESCRIPTION)]

# Why a decision is dated further back than the lifecycle policy's `decision.backdate` rule allows (audited).
BackdateReason = Annotated[
    str | None,
    Field(
        None,
        min_length=1,
        max_length=500,
        description="required when the decision's date is further back than the policy allows "
        "(`decision.backdate`, 30 days shipped): why it is entered late; kept in the audit entry",
    ),
]


class OnIn(BaseModel):
    """The body of a dated decision: its day, and why it is entered late when it is."""

    model_config = ConfigDict(extra="forbid")

    on: date | None = Field(None, description="default: today (China); not after today")
    backdate_reason: BackdateReason = None
