"""Working-day arithmetic on the Chinese calendar (with 调休 make-up days) from ``chinese_calendar``.

Convention: the event day itself is day 0; ``due_date(event, n)`` is the n-th working day *after* the event
(day 1 = the next working day after it), as "within 20 working days of the inspection" is read. Holidays and
make-up working days come from the maintained ``chinese_calendar`` package, never from a list kept here.

The State Council announces each year's arrangement in the autumn before it, and the package follows some
time later; a deadline set in December routinely falls in a year the installed package does not know yet.
For the one year after the last covered one the calendar is *provisional* (Monday–Friday, no holidays) and
:func:`is_provisional` says so, so that such a deadline can be shown as provisional rather than refused;
anything further out is a :class:`CalendarCoverageError`.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import chinese_calendar

from supervision.platform.errors import DomainError

__all__ = [
    "CalendarCoverageError",
    "add_working_days",
    "covered_years",
    "due_date",
    "is_provisional",
    "is_working_day",
    "working_days_between",
]


class CalendarCoverageError(DomainError, ValueError):
    """A date outside the years the installed ``chinese_calendar`` knows (holidays are announced yearly)."""


@functools.cache
def covered_years() -> tuple[int, int]:
    """First and last year the installed package has the State Council holiday arrangement for."""
    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    return years[0], years[-1]


def is_provisional(day: date) -> bool:
    """True for a day of the year after the last covered one, judged by weekday only (see module doc)."""
    return day.year == covered_years()[1] + 1


def is_working_day(day: date) -> bool:
    """True on a working day: weekdays that are not public holidays, plus make-up Saturdays/Sundays (调休)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if is_provisional(day):
            return day.weekday() < 5
        first, last = covered_years()
        raise CalendarCoverageError(
            f"date {day.isoformat()}: the installed chinese_calendar covers only {first}–{last}; "
            "upgrade the chinese-calendar package once the State Council publishes that year's holidays"
        ) from None


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after ``start`` (n ≥ 1); n = 0 returns ``start`` itself."""
    if n < 0:
        raise ValueError(f"n={n}: the number of working days must be ≥ 0")
    day = start
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(a: date, b: date) -> int:
    """Working days in the half-open interval (a, b]: how many working days after ``a`` day ``b`` is.

    Negative when ``b`` is before ``a`` (the count of (b, a] with a minus sign), so
    ``add_working_days(a, working_days_between(a, b)) <= b`` for b ≥ a.
    """
    if b < a:
        return -working_days_between(b, a)
    count = 0
    day = a
    while day < b:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def due_date(event_date: date, n: int) -> date:
    """Deadline of something due "within n working days" of ``event_date``: day 1 is the next working day."""
    if n < 1:
        raise ValueError(f"n={n}: a deadline needs at least one working day")
    return add_working_days(event_date, n)
