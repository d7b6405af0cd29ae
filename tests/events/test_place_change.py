"""A change of where a published event happens is a notice everyone registered receives,
like a change of when: one email each with an updated `.ics`, in their language."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry
from events import services
from events.models import Event, Registration, RegistrationStatus
from events.services.messages import _notify_changed, place_of
from notifications import services as notification_services
from notifications.models import InAppNotification, Notification
from tests.factories import (
    attachments_of,
    deliver_outbox,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
    read_mails,
)

NEW_VENUE = "Auditorio Jaime Torres Bodet"
NEW_ADDRESS = "Paseo de la Reforma s/n, Bosque de Chapultepec"
ONLINE_URL = "https://meet.example.org/datos-abiertos"


def _event_with_people(institution, **fields):
    """A published event (2 seats) with Ana and Ben confirmed (Ben reads English), Ceci
    waitlisted and Dani cancelled."""
    event = make_event(institution, capacity=2, waitlist=True, **fields)
    people = {name: make_user(name=name) for name in ("Ana", "Ben", "Ceci", "Dani")}
    people["Ben"].locale = "en"
    db.session.commit()
    services.register(people["Ana"], event)
    services.register(people["Ben"], event)
    dani = services.register(people["Dani"], event)
    services.cancel_registration(people["Dani"], dani)
    ceci = services.register(people["Ceci"], event)
    assert ceci.status == RegistrationStatus.waitlisted
    deliver_outbox()  # the registration emails, out of the way
    return event, people


def _vevent(mail, event, word="actividad"):
    ics = attachments_of(mail)[f"{word}-{event.id}.ics"]
    calendar = Calendar.from_ical(ics.get_content())
    assert calendar["METHOD"] == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    return vevent


def _text(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def _html(mail) -> str:
    return mail.get_body(preferencelist=("html",)).get_content()


def test_a_new_venue_reaches_confirmed_and_waitlisted_people_once_with_an_updated_ics(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event, people = _event_with_people(institution)
    # Not the organisers' (switchable) messages, nor a reminder: it reaches even Ana, who
    # turned both off.
    notification_services.set_preferences(people["Ana"], {"event_messages": "off", "events": "off"})
    db.session.commit()
    before = {m["Message-ID"] for m in read_mails(mail_dir)}
    old_sequence = event.sequence

    services.update_event(liaison, event, {"venue": NEW_VENUE, "address": NEW_ADDRESS})
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert event.sequence == old_sequence + 1
    assert deliver_outbox() == 3
    fresh = [m for m in read_mails(mail_dir) if m["Message-ID"] not in before]
    relocated_rows = db.session.execute(
        select(Notification).where(Notification.kind == "events.event_relocated")
    ).scalars()
    assert [row.category for row in relocated_rows] == [None, None, None]  # transactional
    assert sorted(m["To"].addresses[0].addr_spec for m in fresh) == sorted(
        people[name].email for name in ("Ana", "Ben", "Ceci")
    )

    (ana,) = [m for m in fresh if m["To"].addresses[0].addr_spec == people["Ana"].email]
    assert ana["Subject"] == "Cambió el lugar de «Datatón de datos abiertos»"
    text = _text(ana)
    assert "La actividad cambió de lugar." in text
    assert "Biblioteca Vasconcelos" in text and NEW_VENUE in text  # old → new
    assert "cambió de fecha" not in text  # the time did not move
    assert NEW_VENUE in _html(ana) and "<s>Biblioteca Vasconcelos" in _html(ana)
    vevent = _vevent(ana, event)
    assert int(vevent["SEQUENCE"]) == event.sequence == old_sequence + 1
    assert str(vevent["LOCATION"]).startswith(f"{NEW_VENUE}, {NEW_ADDRESS}")
    assert str(vevent["UID"]).startswith(f"event-{event.id}@")  # the same UID as ever

    (ben,) = [m for m in fresh if m["To"].addresses[0].addr_spec == people["Ben"].email]
    assert ben["Subject"] == "The place of “Datatón de datos abiertos” has changed"
    assert "The event has a new place." in _text(ben) and NEW_VENUE in _text(ben)
    assert "cambió" not in _text(ben).lower()
    ben_vevent = _vevent(ben, event, word="activity")  # the file name in his language too
    assert int(ben_vevent["SEQUENCE"]) == event.sequence and NEW_VENUE in str(ben_vevent["LOCATION"])

    # Ceci is waitlisted: told of the new place, but no calendar entry she never had (and so
    # no online link), as the reschedule notice and the waitlist email do.
    (ceci,) = [m for m in fresh if m["To"].addresses[0].addr_spec == people["Ceci"].email]
    assert NEW_VENUE in _text(ceci) and "Sigues en la lista de espera." in _text(ceci)
    assert not [name for name in attachments_of(ceci) if name.endswith(".ics")]

    # The notification centre keeps it, as it keeps a reschedule.
    entries = db.session.execute(select(InAppNotification.user_id, InAppNotification.kind)).all()
    relocated = {user_id for user_id, kind in entries if kind == "events.event_relocated"}
    assert relocated == {people[name].id for name in ("Ana", "Ben", "Ceci")}

    # Audited as an edit, with the place before and after.
    entry = (
        db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "event.update").order_by(AuditEntry.id.desc())
        )
        .scalars()
        .first()
    )
    assert entry.details["old_place"]["venue"] == "Biblioteca Vasconcelos"
    assert entry.details["new_place"]["venue"] == NEW_VENUE

    # The same edit again changes nothing and sends nothing; a retry of the notice is deduplicated.
    services.update_event(liaison, event, {"venue": NEW_VENUE, "address": NEW_ADDRESS})
    assert deliver_outbox() == 0
    rows = db.session.execute(select(Notification.id)).all()
    old_place = replace(place_of(event), venue="Biblioteca Vasconcelos", address=None)
    _notify_changed(event, moved_from=None, old_place=old_place)  # as a retried edit would
    db.session.commit()
    assert db.session.execute(select(Notification.id)).all() == rows
    assert deliver_outbox() == 0


def test_a_time_and_place_change_in_one_edit_is_one_notice(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event, people = _event_with_people(institution)
    before = {m["Message-ID"] for m in read_mails(mail_dir)}
    later = event.starts_at + timedelta(days=2)
    services.update_event(
        liaison, event, {"starts_at": later, "ends_at": later + timedelta(hours=3), "venue": NEW_VENUE}
    )
    assert deliver_outbox() == 3
    fresh = [m for m in read_mails(mail_dir) if m["Message-ID"] not in before]
    (ana,) = [m for m in fresh if m["To"].addresses[0].addr_spec == people["Ana"].email]
    assert ana["Subject"] == "Cambió la fecha y el lugar de «Datatón de datos abiertos»"
    text = _text(ana)
    assert "La actividad cambió de fecha y de lugar." in text
    assert "Antes:" in text and "Ahora:" in text and NEW_VENUE in text
    vevent = _vevent(ana, db.session.get(Event, event.id))
    assert NEW_VENUE in str(vevent["LOCATION"]) and vevent.decoded("DTSTART").astimezone() == later
    (ben,) = [m for m in fresh if m["To"].addresses[0].addr_spec == people["Ben"].email]
    assert ben["Subject"] == "The date and place of “Datatón de datos abiertos” have changed"
    assert "Venue: Biblioteca Vasconcelos → " in _text(ben) and "Sede" not in _text(ben)
    kinds = db.session.execute(
        select(Notification.kind).where(Notification.user_id == people["Ana"].id)
    ).scalars()
    assert "events.event_relocated" not in set(kinds)  # the reschedule notice covers both


def test_going_online_tells_confirmed_people_the_link_and_waitlisted_people_not(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event, people = _event_with_people(institution)
    before = {m["Message-ID"] for m in read_mails(mail_dir)}
    services.update_event(liaison, event, {"format": "hybrid", "online_url": ONLINE_URL})
    assert deliver_outbox() == 3
    fresh = {m["To"].addresses[0].addr_spec: m for m in read_mails(mail_dir) if m["Message-ID"] not in before}
    ana, ceci = fresh[people["Ana"].email], fresh[people["Ceci"].email]
    assert "Presencial → Híbrido" in _text(ana) and ONLINE_URL in _text(ana)
    assert ONLINE_URL in str(_vevent(ana, event)["LOCATION"])
    assert "Presencial → Híbrido" in _text(ceci)
    assert "Format: In person → Hybrid" in _text(fresh[people["Ben"].email])  # labels in his words
    assert ONLINE_URL not in _text(ceci) and ONLINE_URL not in _html(ceci)

    # A new link alone is news only for those who may see it.
    before = {m["Message-ID"] for m in read_mails(mail_dir)}
    services.update_event(liaison, event, {"online_url": ONLINE_URL + "-2"})
    assert deliver_outbox() == 2
    fresh = {m["To"].addresses[0].addr_spec: m for m in read_mails(mail_dir) if m["Message-ID"] not in before}
    assert set(fresh) == {people["Ana"].email, people["Ben"].email}
    assert fresh[people["Ana"].email]["Subject"] == "Cambió el enlace de «Datatón de datos abiertos»"
    assert f"{ONLINE_URL} → {ONLINE_URL}-2" in _text(fresh[people["Ana"].email])


def test_no_notice_for_a_draft_or_for_fields_that_are_not_the_place(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    draft = make_event(institution, publish=False)
    services.update_event(liaison, draft, {"venue": NEW_VENUE})
    assert deliver_outbox() == 0

    event, _people = _event_with_people(institution)
    sent = len(read_mails(mail_dir))
    services.update_event(liaison, event, {"description": "Traigan su computadora.", "summary": "Otro"})
    services.update_event(liaison, event, {"latitude": 19.44, "longitude": -99.15})  # a pin, not a place
    assert deliver_outbox() == 0 and len(read_mails(mail_dir)) == sent
    kinds = set(db.session.execute(select(Notification.kind)).scalars())
    assert not {"events.event_relocated", "events.event_rescheduled"} & kinds


def test_a_cancelled_registration_hears_nothing_of_the_new_place(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event, people = _event_with_people(institution)
    dani = db.session.execute(
        select(Registration).where(Registration.user_id == people["Dani"].id)
    ).scalar_one()
    assert dani.status == RegistrationStatus.cancelled
    before = len(mails_to(mail_dir, people["Dani"].email))
    services.update_event(liaison, event, {"venue": NEW_VENUE})
    deliver_outbox()
    assert len(mails_to(mail_dir, people["Dani"].email)) == before
