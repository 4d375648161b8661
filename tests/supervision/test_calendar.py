"""Working days across the Spring Festival and National Day, with make-up days (调休)."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from supervision.platform.calendar import (
    CalendarCoverageError,
    add_working_days,
    covered_years,
    due_date,
    is_provisional,
    is_working_day,
    working_days_between,
)


def _naive_count(a: date, b: date) -> int:
    """Independent oracle: count days in (a, b] that the package itself calls working days."""
    return sum(chinese_calendar.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def test_make_up_days_are_working_days_per_the_package() -> None:
    # The facts the tests below rely on, checked against the package rather than memory.
    assert date(2025, 1, 26).weekday() == 6 and chinese_calendar.is_workday(date(2025, 1, 26))  # Sun 调休
    assert date(2025, 2, 8).weekday() == 5 and chinese_calendar.is_workday(date(2025, 2, 8))  # Sat 调休
    assert not any(chinese_calendar.is_workday(date(2025, 1, 28) + timedelta(days=i)) for i in range(8))
    assert chinese_calendar.is_workday(date(2025, 9, 28)) and chinese_calendar.is_workday(date(2025, 10, 11))
    assert not any(chinese_calendar.is_workday(date(2025, 10, 1) + timedelta(days=i)) for i in range(8))
    assert chinese_calendar.is_workday(date(2026, 2, 14)) and chinese_calendar.is_workday(date(2026, 2, 28))
    assert not chinese_calendar.is_workday(date(2026, 2, 23))


def test_spring_festival_2025() -> None:
    # Fri 24 Jan → Sun 26 Jan is a make-up working day (day 1), Mon 27 day 2, then the holiday to 4 Feb.
    assert due_date(date(2025, 1, 24), 1) == date(2025, 1, 26)
    assert due_date(date(2025, 1, 24), 2) == date(2025, 1, 27)
    assert due_date(date(2025, 1, 24), 3) == date(2025, 2, 5)
    # Sat 8 Feb is a make-up day; Sun 9 Feb is not.
    assert due_date(date(2025, 2, 7), 1) == date(2025, 2, 8)
    assert due_date(date(2025, 2, 8), 1) == date(2025, 2, 10)


def test_spring_festival_2026() -> None:
    assert due_date(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Saturday make-up day
    assert due_date(date(2026, 2, 13), 2) == date(2026, 2, 24)  # 15–23 Feb off
    assert working_days_between(date(2026, 2, 13), date(2026, 2, 28)) == 6  # 14, 24–27, 28


def test_national_day_2025_and_2026() -> None:
    assert due_date(date(2025, 9, 26), 1) == date(2025, 9, 28)  # Sunday make-up day
    assert due_date(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert due_date(date(2025, 10, 10), 1) == date(2025, 10, 11)  # Saturday make-up day
    assert due_date(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert due_date(date(2026, 10, 9), 1) == date(2026, 10, 10)  # Saturday make-up day


def test_twenty_working_days_over_national_day_matches_the_package() -> None:
    start = date(2025, 9, 20)
    end = due_date(start, 20)
    assert _naive_count(start, end) == 20
    assert chinese_calendar.is_workday(end)
    # 20 working days over the Golden Week take far more than 28 calendar days.
    assert (end - start).days > 28


@pytest.mark.parametrize("start", [date(2025, 1, 1), date(2025, 9, 15), date(2026, 1, 20), date(2026, 9, 1)])
@pytest.mark.parametrize("n", [0, 1, 5, 20, 45])
def test_add_and_between_are_inverse(start: date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    assert _naive_count(start, end) == n
    if n:
        assert is_working_day(end)
    assert working_days_between(end, start) == -n


def test_uncovered_year_is_a_clear_error() -> None:
    with pytest.raises(CalendarCoverageError, match=r"2099-01-02.*covers only 2004–20\d\d"):
        is_working_day(date(2099, 1, 2))
    with pytest.raises(CalendarCoverageError):
        is_working_day(date(2003, 6, 2))


def test_the_year_after_coverage_is_provisional_weekdays() -> None:
    last = covered_years()[1]
    december = date(last, 12, 1)
    assert not is_provisional(december)
    due = due_date(december, 40)  # crosses into the next, not yet announced, year
    assert due.year == last + 1 and is_provisional(due)
    # In the provisional year every Monday–Friday counts and nothing else does.
    start = date(last + 1, 1, 1)
    days = [start + timedelta(days=i) for i in range(60)]
    assert [is_working_day(d) for d in days] == [d.weekday() < 5 for d in days]
    assert working_days_between(december, due) == 40


def test_bad_counts() -> None:
    with pytest.raises(ValueError, match="n=-1"):
        add_working_days(date(2026, 3, 2), -1)
    with pytest.raises(ValueError, match="n=0"):
        due_date(date(2026, 3, 2), 0)
