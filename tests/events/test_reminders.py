"""Reminders on the notifications ledger: scheduled at each offset for confirmed people,
moved and cancelled with the event, rendered in the person's language with the event's
times, and the liaison's "record the outcome" nudge."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from icalendar import Calendar
from sqlalchemy import select

from core.extensions import db
from core.timeutil import to_zone, utcnow
from events import reminders, services
from notifications import services as notifications
from notifications.models import Notification
from tests.factories import (
    attachments_of,
    deliver_outbox,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)


def rows(event, kind=reminders.REMINDER_KIND):
    db.session.expire_all()
    return [r for r in reminders.reminder_rows(event) if r["kind"] == kind]


def test_confirmed_people_get_one_row_per_offset_waitlisted_none(app, ctx):
    event = make_event(make_institution("inegi"), capacity=1, reminder_offsets_minutes=[1440, 60, 15])
    confirmed, waiting = make_user(), make_user()
    services.register(confirmed, event)
    services.register(waiting, event)
    scheduled = rows(event)
    assert {(r["recipient_id"], r["offset_key"]) for r in scheduled} == {
        (confirmed.id, "1440m"),
        (confirmed.id, "60m"),
        (confirmed.id, "15m"),
    }
    assert {r["offset_key"]: r["fire_at"] for r in scheduled}["60m"] == event.starts_at - timedelta(hours=1)
    # The waitlisted person gets hers when promoted.
    services.cancel_registration(confirmed, services.registration_for(confirmed, event))
    pending = {(r["recipient_id"], r["offset_key"]) for r in rows(event) if r["status"] == "pending"}
    assert pending == {(waiting.id, "1440m"), (waiting.id, "60m"), (waiting.id, "15m")}


def test_offsets_already_past_are_not_scheduled_for_a_late_registration(app, ctx):
    event = make_event(make_institution("inegi"), starts_at=utcnow() + timedelta(hours=3))
    services.register(make_user(), event)
    assert [r["offset_key"] for r in rows(event)] == ["60m"]


def test_reminder_is_sent_in_the_persons_language_with_the_events_times(app, ctx, mail_dir):
    event = make_event(
        make_institution("inegi"),
        timezone="America/Tijuana",
        format="hybrid",
        online_url="https://meet.example.org/r",
    )
    person = make_user("pat@example.org")
    person.locale = "en"
    person.timezone = "Europe/Madrid"
    db.session.commit()
    registration = services.register(person, event)
    with freeze_time(event.starts_at - timedelta(minutes=59)):
        counts = notifications.fire_due_reminders()
    assert counts == {"sent": 2}  # both offsets are due by then; each once
    with freeze_time(event.starts_at - timedelta(minutes=58)):
        assert notifications.fire_due_reminders() == {}
    deliver_outbox()
    reminder_mails = [
        m for m in mails_to(mail_dir, "pat@example.org") if m["X-Promueve-Kind"] == "events.reminder"
    ]
    assert len(reminder_mails) == 2
    mail = reminder_mails[0]
    assert mail["Content-Language"] == "en"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert registration.code in body and "https://meet.example.org/r" in body
    local = to_zone(event.starts_at, "America/Tijuana")
    assert f"{local:%B} {local.day}, {local.year}" in body  # English date, in the event's zone
    assert f"{local:%I:%M}".lstrip("0") in body and local.strftime("%Z") in body
    assert f"/events/{event.id}" in body  # the cancel link
    ics = attachments_of(mail)[f"activity-{event.id}.ics"]  # named in English too
    assert Calendar.from_ical(ics.get_content())["METHOD"] == "REQUEST"
    assert mail["List-Unsubscribe"]  # reminders respect preferences (category "events")


def test_cancelled_registrations_and_events_get_no_reminder(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution)
    leaving, staying = make_user(), make_user()
    services.register(leaving, event)
    services.register(staying, event)
    services.cancel_registration(leaving, services.registration_for(leaving, event))
    statuses = {(r["recipient_id"], r["status"]) for r in rows(event)}
    assert statuses == {(leaving.id, "cancelled"), (staying.id, "pending")}
    services.cancel_event(liaison, event, "Sin sede")
    assert {r["status"] for r in rows(event)} == {"cancelled"}
    with freeze_time(event.starts_at - timedelta(minutes=30)):
        assert notifications.fire_due_reminders() == {}


def test_a_stale_row_is_skipped_at_fire_time(app, ctx):
    event = make_event(make_institution("inegi"))
    person = make_user()
    registration = services.register(person, event)
    # Behind the ledger's back: the registration is gone but the rows stayed pending.
    registration.status = "cancelled"
    db.session.commit()
    with freeze_time(event.starts_at - timedelta(minutes=30)):
        assert notifications.fire_due_reminders() == {"skipped": 2}
    assert (
        db.session.execute(select(Notification).where(Notification.kind == "events.reminder")).first() is None
    )


def test_rescheduling_moves_reminders_and_a_sent_one_goes_again_for_the_new_date(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution)
    services.register(make_user(), event)
    with freeze_time(event.starts_at - timedelta(hours=23)):
        assert notifications.fire_due_reminders() == {"sent": 1}
    new_start = event.starts_at + timedelta(days=7)
    services.reschedule_event(liaison, event, new_start, new_start + timedelta(hours=2))
    scheduled = {r["offset_key"]: r for r in rows(event)}
    assert scheduled["1440m"]["status"] == "pending"
    assert scheduled["1440m"]["fire_at"] == new_start - timedelta(days=1)
    with freeze_time(new_start - timedelta(minutes=30)):
        assert notifications.fire_due_reminders() == {"sent": 2}


def test_changing_offsets_reschedules_and_old_offsets_are_skipped(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution)
    services.register(make_user(), event)
    services.update_event(liaison, event, {"reminder_offsets_minutes": [180]})
    with freeze_time(event.starts_at - timedelta(minutes=30)):
        assert notifications.fire_due_reminders() == {"sent": 1, "skipped": 2}


def test_liaisons_are_nudged_to_record_the_outcome_until_they_do(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution, "enlace@example.org")
    make_liaison(institution, "staff@example.org", role="staff")
    event = make_event(institution)
    nudges = rows(event, reminders.OUTCOME_KIND)
    assert {r["recipient_id"] for r in nudges} == {liaison.id}
    assert min(r["fire_at"] for r in nudges) == event.ends_at + timedelta(days=1)
    with freeze_time(event.ends_at + timedelta(days=1, minutes=1)):
        assert notifications.fire_due_reminders() == {"sent": 1}
        deliver_outbox()
    (mail,) = [m for m in mails_to(mail_dir, "enlace@example.org") if "resultado" in m["Subject"]]
    assert f"/events/{event.id}/outcome" in mail.get_body(preferencelist=("plain",)).get_content()
    with freeze_time(event.ends_at + timedelta(days=2, minutes=1)):
        assert notifications.fire_due_reminders() == {"sent": 1}  # the next day, again
        services.record_outcome(liaison, event, minutes="Listo")
    assert not [r for r in rows(event, reminders.OUTCOME_KIND) if r["status"] == "pending"]
    with freeze_time(event.ends_at + timedelta(days=30)):
        assert notifications.fire_due_reminders() == {}
