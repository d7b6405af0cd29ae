"""Registration: seats, waitlist in arrival order, sector seats, codes, the confirmation email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from icalendar import Calendar
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from events import services
from events.models import Registration, RegistrationStatus
from tests.factories import (
    attachments_of,
    deliver_outbox,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)


def people(n: int, sector: str | None = None) -> list[User]:
    users = [make_user() for _ in range(n)]
    if sector:
        for user in users:
            user.sector = sector
        db.session.commit()
    return users


def test_confirmed_while_seats_remain_then_waitlisted_in_arrival_order(app, ctx):
    event = make_event(make_institution("inegi"), capacity=2)
    a, b, c, d = people(4)
    assert services.register(a, event).status == RegistrationStatus.confirmed
    assert services.register(b, event).status == RegistrationStatus.confirmed
    third = services.register(c, event)
    fourth = services.register(d, event)
    assert third.status == fourth.status == RegistrationStatus.waitlisted
    assert services.waitlist_position(third) == 1 and services.waitlist_position(fourth) == 2
    counts = services.seat_counts(event.id)
    assert (counts.confirmed, counts.waitlisted) == (2, 2)


def test_full_without_waitlist_is_a_clear_refusal(app, ctx):
    event = make_event(make_institution("inegi"), capacity=1, waitlist=False)
    first, second = people(2)
    services.register(first, event)
    with pytest.raises(DomainError) as refused:
        services.register(second, event)
    assert refused.value.code == "event_full" and refused.value.status == 409
    assert "lugares" in str(refused.value.message)


def test_one_active_registration_per_person_also_in_the_database(app, ctx):
    event = make_event(make_institution("inegi"))
    person = make_user()
    registration = services.register(person, event)
    with pytest.raises(DomainError) as refused:
        services.register(person, event)
    assert refused.value.code == "already_registered"
    # The partial unique index refuses a second active row written behind the service's back.
    db.session.add(
        Registration(event_id=event.id, user_id=person.id, status="waitlisted", code="ZZZZ2345", answers={})
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    # A cancelled registration does not count: the person may register again.
    services.cancel_registration(person, db.session.get(Registration, registration.id))
    again = services.register(person, event)
    assert again.status == RegistrationStatus.confirmed and again.code != registration.code


def test_unverified_accounts_cannot_register(app, ctx):
    event = make_event(make_institution("inegi"))
    with pytest.raises(DomainError) as refused:
        services.register(make_user(verified=False), event)
    assert refused.value.status == 403


def test_registration_window_and_status(app, ctx):
    institution = make_institution("inegi")
    opens = utcnow() + timedelta(days=1)
    event = make_event(institution, registration_opens_at=opens)
    person = make_user()
    with pytest.raises(DomainError) as early:
        services.register(person, event)
    assert early.value.code == "registration_not_open"
    with freeze_time(opens + timedelta(minutes=1)):
        assert services.register(person, event).status == RegistrationStatus.confirmed
    draft = make_event(institution, publish=False)
    with pytest.raises(DomainError):
        services.register(make_user(), draft)
    with freeze_time(event.starts_at + timedelta(minutes=1)), pytest.raises(DomainError) as late:
        services.register(make_user(), event)
    assert late.value.code == "registration_closed"


def test_codes_have_eight_characters_without_look_alikes(app, ctx):
    event = make_event(make_institution("inegi"))
    codes = {services.register(person, event).code for person in people(30)}
    assert len(codes) == 30
    for code in codes:
        assert len(code) == 8 and not set(code) & set("0O1IL")
        assert set(code) <= set(services.CODE_ALPHABET)
    assert not set(services.CODE_ALPHABET) & set("0O1IL")


def test_cancelling_promotes_the_first_waitlisted_and_tells_them(app, ctx, mail_dir):
    event = make_event(make_institution("inegi"), capacity=1)
    holder, first, second = people(3)
    seat = services.register(holder, event)
    waiting_first = services.register(first, event)
    services.register(second, event)
    deliver_outbox()
    services.cancel_registration(holder, seat)
    db.session.expire_all()
    assert db.session.get(Registration, waiting_first.id).status == RegistrationStatus.confirmed
    assert db.session.get(Registration, waiting_first.id).promoted_at is not None
    assert services.seat_counts(event.id).confirmed == 1
    deliver_outbox()
    (promoted_mail,) = [m for m in mails_to(mail_dir, first.email) if "Se liberó un lugar" in m["Subject"]]
    assert waiting_first.code in promoted_mail.get_body(preferencelist=("plain",)).get_content()
    assert any("Cancelaste" in m["Subject"] for m in mails_to(mail_dir, holder.email))
    assert not any("Se liberó" in m["Subject"] for m in mails_to(mail_dir, second.email))


def test_a_person_cannot_cancel_after_the_start_or_someone_elses(app, ctx):
    event = make_event(make_institution("inegi"))
    owner, other = people(2)
    registration = services.register(owner, event)
    with pytest.raises(DomainError) as foreign:
        services.cancel_registration(other, registration)
    assert foreign.value.status == 403
    with freeze_time(event.starts_at + timedelta(minutes=5)), pytest.raises(DomainError):
        services.cancel_registration(owner, registration)


def test_sector_seats_keep_every_sector_at_the_table(app, ctx):
    event = make_event(
        make_institution("inegi"),
        kind="dialogue_table",
        capacity=4,
        sector_seats={"academia": 1, "civil_society": 1},
    )
    scholars = people(2, "academia")
    activists = people(1, "civil_society")
    citizens = people(3, "citizen")
    assert services.register(scholars[0], event).status == "confirmed"
    assert services.register(scholars[1], event).status == "waitlisted"  # academia's seat is taken
    assert services.register(citizens[0], event).status == "confirmed"
    assert services.register(citizens[1], event).status == "confirmed"  # two open seats
    assert services.register(citizens[2], event).status == "waitlisted"  # open seats gone
    assert services.register(activists[0], event).status == "confirmed"  # its reserved seat waited
    # The academic leaves: the next academic (not the earlier citizen) takes that seat.
    services.cancel_registration(scholars[0], services.registration_for(scholars[0], event))
    assert services.registration_for(scholars[1], event).status == "confirmed"
    assert services.registration_for(citizens[2], event).status == "waitlisted"


def test_sector_seats_cannot_exceed_capacity_and_only_for_dialogue_tables(app, ctx):
    institution = make_institution("inegi")
    with pytest.raises(DomainError) as too_many:
        make_event(institution, kind="dialogue_table", capacity=2, sector_seats={"academia": 3})
    assert too_many.value.field == "sector_seats"
    db.session.rollback()
    with pytest.raises(DomainError) as wrong_kind:
        make_event(institution, kind="datathon", sector_seats={"academia": 1})
    assert wrong_kind.value.field == "sector_seats"


def test_lowering_capacity_below_confirmed_is_refused_raising_it_promotes(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution, capacity=3)
    registrations = [services.register(person, event) for person in people(5)]
    with pytest.raises(DomainError) as refused:
        services.update_event(liaison, event, {"capacity": 2})
    assert refused.value.field == "capacity" and "3" in str(refused.value.message)
    db.session.rollback()
    assert db.session.get(type(event), event.id).capacity == 3
    services.update_event(liaison, event, {"capacity": 4})
    db.session.expire_all()
    statuses = [db.session.get(Registration, r.id).status for r in registrations]
    assert statuses == ["confirmed"] * 4 + ["waitlisted"]


def test_confirmation_email_has_code_qr_and_ics_request(app, ctx, mail_dir):
    event = make_event(make_institution("inegi", name="Instituto Nacional de Estadística"), capacity=5)
    person = make_user("lucia@example.org", name="Lucía")
    registration = services.register(person, event)
    deliver_outbox()
    (mail,) = mails_to(mail_dir, "lucia@example.org")
    assert "Registro confirmado" in str(mail["Subject"])
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    assert registration.code in plain and "Biblioteca Vasconcelos" in plain
    html = mail.get_body(preferencelist=("html",)).get_content()
    parts = attachments_of(mail)
    qr = parts[f"registro-{registration.code}.png"]
    assert qr.get_content_type() == "image/png" and qr.get_content().startswith(b"\x89PNG")
    assert f"cid:{qr['Content-ID'].strip('<>')}" in html
    ics = parts[f"actividad-{event.id}.ics"]
    assert ics.get_content_type() == "text/calendar" and ics.get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(ics.get_content())
    assert calendar["METHOD"] == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == f"event-{event.id}@promueve.test"
    assert "lucia@example.org" in str(vevent["ATTENDEE"])
    assert calendar.walk("VTIMEZONE")[0]["TZID"] == "America/Mexico_City"


def test_waitlisted_email_gives_the_position(app, ctx, mail_dir):
    event = make_event(make_institution("inegi"), capacity=1)
    first, second = people(2)
    services.register(first, event)
    services.register(second, event)
    deliver_outbox()
    (waiting,) = mails_to(mail_dir, second.email)
    assert "lista de espera" in str(waiting["Subject"])
    assert "lugar 1" in waiting.get_body(preferencelist=("plain",)).get_content()
    assert "online_url" not in waiting.get_body(preferencelist=("plain",)).get_content()


def test_questions_are_answered_and_validated(app, ctx):
    event = make_event(
        make_institution("inegi"),
        questions=[
            {"kind": "short_text", "prompt": "¿Qué datos usas?", "required": True},
            {"kind": "single_choice", "prompt": "Nivel", "choices": ["Básico", "Avanzado"]},
        ],
    )
    text_q, choice_q = event.questions
    with pytest.raises(DomainError) as missing:
        services.register(make_user(), event, {})
    assert missing.value.field == f"q{text_q.id}"
    with pytest.raises(DomainError) as bad_choice:
        services.register(make_user(), event, {str(text_q.id): "Censo", str(choice_q.id): "Experto"})
    assert bad_choice.value.field == f"q{choice_q.id}"
    registration = services.register(
        make_user(), event, {str(text_q.id): "Censo", str(choice_q.id): "Básico"}
    )
    assert registration.answers == {str(text_q.id): "Censo", str(choice_q.id): "Básico"}


def test_account_deletion_frees_future_seats_and_drops_answers(app, ctx):
    from accounts.services import delete_account
    from tests.factories import PASSWORD

    event = make_event(make_institution("inegi"), capacity=1)
    leaving, waiting = people(2)
    services.register(leaving, event)
    services.register(waiting, event)
    delete_account(leaving, PASSWORD)
    assert services.registration_for(waiting, event).status == "confirmed"
    remaining = db.session.execute(
        select(func.count()).select_from(Registration).where(Registration.erased.is_(True))
    ).scalar_one()
    assert remaining == 1
    assert (
        db.session.execute(text("SELECT COUNT(*) FROM registration WHERE status = 'cancelled'")).scalar() == 1
    )


def test_data_export_lists_registrations(app, ctx):
    from accounts.services import export_personal_data

    event = make_event(make_institution("inegi"), title="Mesa de datos")
    person = make_user()
    registration = services.register(person, event)
    (exported,) = export_personal_data(person)["event_registrations"]
    assert exported["event"] == "Mesa de datos" and exported["code"] == registration.code
    assert exported["status"] == "confirmed"


def test_confirmation_email_is_in_the_recipients_language_attachments_included(app, ctx, mail_dir):
    event = make_event(make_institution("inegi"), capacity=5)
    person = make_user("kim@example.org", name="Kim")
    person.locale = "en"
    db.session.commit()
    registration = services.register(person, event)
    deliver_outbox()
    (mail,) = mails_to(mail_dir, "kim@example.org")
    parts = attachments_of(mail)
    assert set(parts) == {f"registration-{registration.code}.png", f"activity-{event.id}.ics"}
    (vevent,) = Calendar.from_ical(parts[f"activity-{event.id}.ics"].get_content()).walk("VEVENT")
    assert vevent["CATEGORIES"].cats == ["Datathon"]


def test_registration_history_also_appears_in_the_notification_centre(app, client, mail_dir):
    from notifications.models import InAppNotification

    with app.app_context():
        event = make_event(make_institution("inegi"), capacity=1, title="Mesa de movilidad")
        ana = make_user("ana@example.org")
        beto = make_user("beto@example.org")
        services.register(ana, event)
        assert services.register(beto, event).status == "waitlisted"
        # Sent while true (emails are rendered at send time: a waitlist notice still queued
        # when its person is promoted is withheld, the promotion says it all).
        deliver_outbox()
        services.cancel_registration(ana, services.registration_for(ana, event))  # beto is promoted
        deliver_outbox()
        kinds = {(row.user_id, row.kind) for row in db.session.execute(select(InAppNotification)).scalars()}
        assert kinds == {
            (ana.id, "events.registration_confirmed"),
            (ana.id, "events.registration_cancelled"),
            (beto.id, "events.registration_waitlisted"),
            (beto.id, "events.registration_promoted"),
        }
        assert len(mails_to(mail_dir, "beto@example.org")) == 2  # still emailed, always
        event_id = event.id
    from tests.factories import login

    login(client, "beto@example.org")
    centre = client.get("/notifications").get_data(as_text=True)
    assert "Se liberó un lugar: estás confirmado en «Mesa de movilidad»" in centre
    import re

    first_link = re.search(r'href="(/notifications/\d+/open)" class="notification-title"', centre).group(1)
    opened = client.get(first_link)
    assert opened.headers["Location"] == f"/events/{event_id}"
