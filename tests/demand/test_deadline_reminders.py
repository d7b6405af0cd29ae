"""First-answer deadlines on the notifications ledger: halfway, the working day before,
escalation when overdue; moving a deadline moves its reminders; answering stops them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from demand import answers, items, reminders
from demand.deadlines import add_working_days
from demand.models import DemandItem, NonWorkingDay
from notifications import services as notifications
from notifications.models import ScheduledNotification, ScheduledStatus
from tests.demand.helpers import citizen, request
from tests.factories import deliver_outbox, mails_to, make_institution, make_liaison, make_user

# Monday 2026-12-14, 10:00 in Mexico City.
FILED = datetime(2026, 12, 14, 16, 0, tzinfo=UTC)


def _rows(item):
    return {
        (row.offset_key, row.recipient_id): row
        for row in db.session.execute(
            select(ScheduledNotification).where(ScheduledNotification.subject == reminders.subject_of(item))
        ).scalars()
    }


def _setup():
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi, "enlace@inegi.example.org")
    staff = make_liaison(inegi, "personal@inegi.example.org", role="staff")
    admin = make_user("admin@example.org", admin=True)
    return inegi, liaison, staff, admin


def test_reminders_halfway_day_before_and_escalation_across_the_year_end(ctx):
    inegi, liaison, staff, admin = _setup()
    with freeze_time(FILED):
        item = request(citizen(), inegi)
    # 10 working days from Mon 14 Dec 2026: 15-18, 21-24, 28, 29 (25 Dec is a holiday).
    assert item.due_on == date(2026, 12, 29)
    rows = _rows(item)
    assert set(rows) == {
        ("halfway", liaison.id), ("halfway", staff.id),
        ("day_before", liaison.id), ("day_before", staff.id),
        ("overdue", liaison.id), ("overdue", staff.id), ("overdue", admin.id),
    }  # fmt: skip
    assert rows[("halfway", liaison.id)].fire_at.date() == date(2026, 12, 21)  # 5 working days in
    assert rows[("day_before", liaison.id)].fire_at.date() == date(2026, 12, 28)
    assert rows[("overdue", admin.id)].fire_at.date() == date(2026, 12, 30)
    # 09:00 in the institution's zone.
    assert rows[("halfway", liaison.id)].fire_at.astimezone(UTC).hour == 15


def test_reminders_fire_to_the_institution_and_overdue_to_admins(ctx, mail_dir):
    inegi, _liaison, _staff, _admin = _setup()
    with freeze_time(FILED):
        item = request(citizen(), inegi)
    with freeze_time(datetime(2026, 12, 28, 16, 0, tzinfo=UTC)):
        assert notifications.fire_due_reminders() == {"sent": 4}  # halfway + day before, two people
    with freeze_time(datetime(2026, 12, 30, 16, 0, tzinfo=UTC)):
        assert notifications.fire_due_reminders() == {"sent": 3}
    deliver_outbox()
    subjects = [m["Subject"] for m in mails_to(mail_dir, "admin@example.org")]
    assert subjects == [f"Solicitud vencida sin respuesta: «{item.title}»"]
    assert len(mails_to(mail_dir, "enlace@inegi.example.org")) == 3


def test_an_answer_cancels_the_reminders(ctx):
    inegi, liaison, _staff, _admin = _setup()
    with freeze_time(FILED):
        item = request(citizen(), inegi)
        answers.answer(liaison, item, status="under_review")
        assert all(
            r.status == ScheduledStatus.pending for r in _rows(item).values()
        )  # review does not stop it
        answers.answer(liaison, item, status="scheduled", committed_on=date(2027, 2, 1))
    assert {r.status for r in _rows(item).values()} == {ScheduledStatus.cancelled}
    with freeze_time(datetime(2026, 12, 31, tzinfo=UTC)):
        assert notifications.fire_due_reminders() == {}


def test_moving_a_deadline_moves_its_reminders(ctx):
    inegi, liaison, _staff, admin = _setup()
    with freeze_time(FILED):
        item = request(citizen(), inegi)
        answers.move_deadline(admin, item, date(2027, 1, 15), "Prórroga por la complejidad de la solicitud.")
    rows = _rows(item)
    assert rows[("overdue", admin.id)].fire_at.date() == date(2027, 1, 16)
    assert rows[("day_before", liaison.id)].fire_at.date() == date(2027, 1, 14)
    # Halfway between the request (14 Dec) and the new date: 22 working days, 11 in.
    assert rows[("halfway", liaison.id)].fire_at.date() == date(2026, 12, 30)
    assert [h.action for h in items.history_of(item)] == ["created", "due_moved"]
    # Nothing fires on the old dates (21 Dec halfway, 28 Dec the day before).
    with freeze_time(datetime(2026, 12, 29, 16, 0, tzinfo=UTC)):
        assert notifications.fire_due_reminders() == {}


def test_an_added_non_working_day_moves_open_deadlines(ctx):
    inegi, _liaison, _staff, admin = _setup()
    with freeze_time(FILED):
        item = request(citizen(), inegi)
        moved = answers.add_non_working_day(admin, date(2026, 12, 24), "Acuerdo: 24 de diciembre inhábil")
    assert moved == 1
    assert db.session.get(DemandItem, item.id).due_on == date(2026, 12, 30)
    assert _rows(item)[("overdue", admin.id)].fire_at.date() == date(2026, 12, 31)
    with freeze_time(FILED):
        answers.remove_non_working_day(admin, date(2026, 12, 24))
    assert db.session.get(DemandItem, item.id).due_on == date(2026, 12, 29)
    assert db.session.get(NonWorkingDay, date(2026, 12, 24)) is None


def test_deadlines_across_holy_week_and_the_new_year(ctx):
    db.session.add_all(
        [
            NonWorkingDay(day=date(2027, 3, 24), description="Miércoles Santo"),
        ]
    )
    db.session.commit()
    # Holy Thursday and Good Friday 2027 (25, 26 Mar) are federal holidays in `holidays` MX? No:
    # only the admin's rows make them non-working, so add them as the yearly agreement does.
    db.session.add_all(
        [
            NonWorkingDay(day=date(2027, 3, 25), description="Jueves Santo"),
            NonWorkingDay(day=date(2027, 3, 26), description="Viernes Santo"),
        ]
    )
    db.session.commit()
    # From Mon 22 Mar 2027: 23, 29, 30, 31 Mar, 1 Apr = 5 working days.
    assert add_working_days(date(2027, 3, 22), 5) == date(2027, 4, 1)
    # Across the year end: from Thu 30 Dec 2027, 2 working days are Fri 31 Dec and Mon 3 Jan.
    assert add_working_days(date(2027, 12, 30), 2) == date(2028, 1, 3)
    assert reminders.previous_working_day(date(2028, 1, 3)) == date(2027, 12, 31)
    assert reminders.previous_working_day(date(2027, 3, 29)) == date(2027, 3, 23)
