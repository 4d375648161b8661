"""The one clock: "today" is the date in China (Asia/Shanghai), handed to every use case through its context.

Deadlines run in Chinese working days and the policy's dates are Chinese dates, so no module asks the
operating system for the date: between 00:00 and 08:00 Beijing time the UTC date is still yesterday, and a
visit recorded "today" would look like tomorrow's. Tests freeze the clock (``FixedClock``) at 00:30 China
time, the hour at which the two dates differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from supervision.platform.errors import DomainError

__all__ = [
    "CHINA",
    "EARLIEST",
    "LATEST",
    "Clock",
    "FixedClock",
    "SystemClock",
    "china_today",
    "plausible_day",
]

CHINA = ZoneInfo("Asia/Shanghai")

# The days any input date may name: no record of the catalog is older than 1990, and nothing is planned past
# 2100 (earlier dates overflowed the feature windows; year 9999 was accepted as a task's date).
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)


class Clock(Protocol):
    """What a use case asks of time: the instant (aware) and the date in China."""

    def now(self) -> datetime: ...

    def today(self) -> date: ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real time, with the date read in China."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(CHINA).date()


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A clock stopped at `at` (an aware instant): tests and reproducible demos."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"FixedClock at={self.at!r}: give an aware datetime (e.g. tzinfo=CHINA)")

    def now(self) -> datetime:
        return self.at.astimezone(UTC)

    def today(self) -> date:
        return self.at.astimezone(CHINA).date()


def china_today() -> date:
    """Today in China from the system clock, for the few places outside a use case (CLI defaults)."""
    return SystemClock().today()


def plausible_day(day: date, *, field: str) -> date:
    """`day` if it lies in :data:`EARLIEST`..:data:`LATEST`; a refusal naming `field` and the range if not."""
    if not EARLIEST <= day <= LATEST:
        raise DomainError(
            f"{field}: {day.isoformat()} is out of range; "
            f"allowed {EARLIEST.isoformat()} to {LATEST.isoformat()}",
            field=field,
        )
    return day
