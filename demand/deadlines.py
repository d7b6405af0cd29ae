"""Mexican working days: weekends, federal holidays and the extra days an admin adds."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
from sqlalchemy import select

from core.extensions import db
from demand.models import NonWorkingDay


def extra_non_working_days(start: date, end: date) -> set[date]:
    """The admin-declared non-working days between two dates (inclusive)."""
    rows = db.session.execute(
        select(NonWorkingDay.day).where(NonWorkingDay.day >= start, NonWorkingDay.day <= end)
    ).scalars()
    return set(rows)


def _federal_holidays(first_year: int, last_year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("MX", years=range(first_year, last_year + 1))


def is_working_day(day: date, extra: set[date], federal: holidays.HolidayBase) -> bool:
    """Monday to Friday, not a federal holiday, not an extra non-working day."""
    return day.weekday() < 5 and day not in federal and day not in extra


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the day of the request does not count)."""
    # A generous window: 10 working days never need more than a few calendar weeks.
    horizon = start + timedelta(days=days * 3 + 30)
    extra = extra_non_working_days(start, horizon)
    federal = _federal_holidays(start.year, horizon.year)
    current, counted = start, 0
    while counted < days:
        current += timedelta(days=1)
        if is_working_day(current, extra, federal):
            counted += 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    if end <= start:
        return 0
    extra = extra_non_working_days(start, end)
    federal = _federal_holidays(start.year, end.year)
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current, extra, federal):
            count += 1
    return count
