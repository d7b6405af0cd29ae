"""First-answer deadlines in Mexican working days."""

from __future__ import annotations

from datetime import date

from core.extensions import db
from demand.deadlines import add_working_days, working_days_between
from demand.models import NonWorkingDay


def test_weekends_do_not_count(ctx):
    # Friday 2026-11-27 + 1 working day = Monday 2026-11-30.
    assert add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert add_working_days(date(2026, 11, 23), 10) == date(2026, 12, 7)


def test_federal_holidays_do_not_count(ctx):
    # Revolution Day is the third Monday of November (2026-11-16).
    assert add_working_days(date(2026, 11, 13), 1) == date(2026, 11, 17)
    # Christmas and New Year across the year end: from Wed 2026-12-23, 10 working days.
    # 24, 28, 29, 30, 31 Dec, 4, 5, 6, 7, 8 Jan (25 Dec and 1 Jan are holidays).
    assert add_working_days(date(2026, 12, 23), 10) == date(2027, 1, 8)


def test_days_an_admin_declares_do_not_count(ctx):
    db.session.add_all(
        [
            NonWorkingDay(day=date(2026, 12, 24), description="Acuerdo anual"),
            NonWorkingDay(day=date(2026, 12, 31), description="Acuerdo anual"),
        ]
    )
    db.session.commit()
    # Without 24 and 31 Dec: 28, 29, 30 Dec, 4, 5, 6, 7, 8, 11, 12 Jan.
    assert add_working_days(date(2026, 12, 23), 10) == date(2027, 1, 12)


def test_working_days_between(ctx):
    assert working_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 1
    assert working_days_between(date(2026, 11, 30), date(2026, 11, 30)) == 0
    assert working_days_between(date(2026, 11, 13), date(2026, 11, 20)) == 4
