"""What the credit-lifecycle use cases share: the acting department's rules, the day rules and the re-score
result.

Authority (docs/lifecycle.md, "Authority"): a department acts on its own objections, repairs, list cases and
commitments, and reads only its own queues; the department is the actor's (its token), never a name the
caller types — except where a government system files for a party and names the department that handles it.
Days: a decision is dated on or before today in China (the context's clock); a report or a look-up may ask
about any day up to the end of the calendar's horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.rescore import Rescore
from serving.services import current_score
from serving.services.context import Context
from supervision.lifecycle import reports
from supervision.platform.access import DEPARTMENT_PATTERN, Role
from supervision.platform.calendar import covered_years
from supervision.platform.clock import plausible_day
from supervision.platform.errors import DomainError, ForbiddenError
from supervision.platform.masking import name_masker

__all__ = [
    "BACKDATE",
    "OWN_CASES",
    "WHO_LISTS",
    "DayError",
    "Rescored",
    "decision_day",
    "filing_department",
    "name_masker",
    "own_department",
    "read_day",
    "stored_score",
    "tier_lookup",
]

OWN_CASES = "a department acts on and reads its own cases"
WHO_LISTS = "谁认定、谁约谈: the listing department handles its case, 国办发〔2019〕35号 §(九)"


class DayError(DomainError, ValueError):
    """A day a use case cannot be dated on (a decision after today, a day past the calendar's horizon)."""


class Rescored(BaseModel):
    """What re-scoring after a decision did: ``rescored`` with the scores before and after, or ``skipped``
    with why (the decision stands either way)."""

    model_config = ConfigDict(frozen=True)

    status: str = Field(description="`rescored` or `skipped`")
    reason: str
    model_version: str | None = None
    as_of: date | None = Field(None, description="the features' date of the new score (the day after)")
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    history_id: int | None = None

    @classmethod
    def of(cls, result: Rescore) -> Rescored:
        return cls.model_validate(result.as_dict())


def horizon() -> date:
    """The last day the lifecycle can reckon with: the end of the calendar's provisional year (deadlines in
    working days need the State Council's holidays)."""
    return date(covered_years()[1] + 1, 12, 31)


BACKDATE = "decision.backdate"


def decision_day(
    ctx: Context, on: date | None, *, field: str = "on", backdate_reason: str | None = None
) -> date:
    """The day a decision is dated: `on`, or today in China; never after today, never before 1990.

    A day further back than the policy's ``decision.backdate`` rule allows needs `backdate_reason`: the use
    case's audit entries then carry the field, the day and the reason (``Context.backdated``).
    """
    day = ctx.today if on is None else on
    if day > ctx.today:
        raise DayError(
            f"{field} {day.isoformat()}: after today in China ({ctx.today.isoformat()}); a decision is "
            "dated on or before the day it is taken",
            field=field,
        )
    day = plausible_day(day, field=field)
    rule = ctx.policy().in_force(BACKDATE, on=ctx.today)
    if rule is not None and rule.end(day) < ctx.today:
        reason = (backdate_reason or "").strip()
        if not reason:
            raise DayError(
                f"{field} {day.isoformat()}: more than {rule.value} {rule.unit.replace('_', ' ')} before "
                f"today ({ctx.today.isoformat()}); a decision entered this late needs a back-dating reason "
                f"(backdate_reason / --backdate-reason), which is audited ({BACKDATE}: {rule.source})",
                field="backdate_reason",
            )
        ctx.backdated[field] = {"day": day.isoformat(), "reason": reason[:500]}
    return day


def read_day(ctx: Context, on: date | None, *, field: str = "on") -> date:
    """The day a report or look-up is about: `on`, or today in China; not before 1990 nor past the calendar's
    horizon."""
    day = ctx.today if on is None else on
    if day > horizon():
        raise DayError(
            f"{field} {day.isoformat()}: after {horizon().isoformat()}, the last day the lifecycle's "
            "calendar covers (holidays are announced a year at a time)",
            field=field,
        )
    return plausible_day(day, field=field)


def own_department(ctx: Context, owner: str, *, what: str, act: str, rule: str = OWN_CASES) -> str:
    """The actor's department if it is `owner` (the department `what` belongs to); 403 naming `rule` if
    not."""
    mine = ctx.department()
    if owner != mine:
        raise ForbiddenError(
            f"{what} belongs to {owner}: a person of {mine} may not {act} it ({rule})",
            field="actor.department",
        )
    return mine


def filing_department(ctx: Context, named: str | None, *, field: str = "department") -> str:
    """The department a filing goes to. A person files with their own department (naming another is refused);
    a government system files for a party and names the department that handles it."""
    if ctx.actor.role is Role.SYSTEM:
        if named is None or not named.strip():
            raise DomainError(
                f"{field}: required when a system files (the department that handles it)", field=field
            )
        if not DEPARTMENT_PATTERN.match(named):
            raise DomainError(f"{field} {named!r}: 1-128 letters, digits, spaces or ()（）·.-", field=field)
        return named
    mine = ctx.department()
    if named is not None and named != mine:
        raise ForbiddenError(
            f"{field} {named!r}: a person files with their own department ({mine}); "
            "the department that acts is the actor's",
            field=field,
        )
    return mine


def tier_lookup(ctx: Context, on: date) -> Callable[[str], str | None]:
    """The entities' current tier on `on` (score history or the latest score file)."""
    return current_score.tiers(ctx.settings, on, ctx.session)


def stored_score(ctx: Context, uscc: str, on: date) -> reports.Score | None:
    """The entity's current score for a credit report (score history or the latest score file)."""
    return current_score.report_score(ctx.settings, uscc, on, ctx.session)
