"""Registration emails are rendered by the mail worker at send time: the outbox row keeps
the kind and the ids, the email says what is true when it leaves, a rendering failure is
retried like a temporary SMTP failure and shown to admins, and everything the outbox
promised still holds (one row, its dedupe key, a fixed Message-ID)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from icalendar import Calendar
from sqlalchemy import select

from core.extensions import db
from events import services
from events.models import Registration
from events.rendering import event_span
from events.services import messages
from notifications.deferred import register_message_renderer
from notifications.models import Notification
from tests.factories import (
    attachments_of,
    deliver_outbox,
    login,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)


def outbox_row(user_id: int) -> Notification:
    return db.session.execute(
        select(Notification).where(
            Notification.user_id == user_id, Notification.kind == messages.CONFIRMED_KIND
        )
    ).scalar_one()


def test_the_confirmation_is_stored_as_ids_and_rendered_when_sent(app, ctx, mail_dir):
    event = make_event(make_institution("inegi"), capacity=5)
    person = make_user("lucia@example.org", name="Lucía")
    registration = services.register(person, event)
    row = outbox_row(person.id)
    assert row.render_refs == {"registration": registration.id, "event": event.id}
    assert row.body_text == "" and row.attachments is None
    assert row.dedupe_key == f"event-registration:{registration.id}:confirmed"
    assert "Registro confirmado" in row.subject  # provisional, for the outbox list
    message_id = row.message_id
    assert deliver_outbox() == 1
    (mail,) = mails_to(mail_dir, "lucia@example.org")
    assert mail["Message-ID"] == message_id
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    assert registration.code in plain
    parts = attachments_of(mail)
    assert parts[f"registro-{registration.code}.png"].get_content().startswith(b"\x89PNG")
    assert parts[f"actividad-{event.id}.ics"].get_param("method") == "REQUEST"
    db.session.expire_all()
    sent = outbox_row(person.id)
    # What was sent is kept for the admin page.
    assert sent.status == "sent" and registration.code in sent.body_text and sent.body_html
    # Sending again changes nothing: one row, one email.
    assert deliver_outbox() == 0 and len(mails_to(mail_dir, "lucia@example.org")) == 1


def test_a_moved_events_confirmation_carries_the_new_time(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution, capacity=5)
    person = make_user("lucia@example.org")
    services.register(person, event)
    new_start = event.starts_at + timedelta(days=2, hours=3)
    services.reschedule_event(liaison, event, new_start, new_start + timedelta(hours=3))
    deliver_outbox()
    (confirmation,) = [
        m for m in mails_to(mail_dir, "lucia@example.org") if "Registro confirmado" in m["Subject"]
    ]
    ics = attachments_of(confirmation)[f"actividad-{event.id}.ics"]
    (vevent,) = Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert vevent["DTSTART"].dt == new_start
    plain = confirmation.get_body(preferencelist=("plain",)).get_content()
    with force_locale("es_MX"):
        when = event_span(new_start, new_start + timedelta(hours=3), event.timezone)
    assert f"Cuándo: {when}" in plain


@pytest.fixture
def broken_confirmation():
    """The confirmation renderer raising, as a template bug or a lost row would."""

    def broken(refs, user):
        raise RuntimeError("la plantilla no existe")

    register_message_renderer(messages.CONFIRMED_KIND, broken)
    yield
    register_message_renderer(messages.CONFIRMED_KIND, messages.render_confirmed)


def test_a_rendering_failure_is_retried_and_shown_on_the_outbox_page(
    app, client, mail_dir, broken_confirmation
):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        person = make_user("lucia@example.org")
        services.register(person, make_event(make_institution("inegi"), capacity=5))
        person_id = person.id
        assert deliver_outbox() == 1
        row = outbox_row(person_id)
        assert row.status == "queued" and row.attempts == 1 and row.next_attempt_at is not None
        assert row.last_error.startswith("cannot render: RuntimeError: la plantilla no existe")
        row_id = row.id
    assert mails_to(mail_dir, "lucia@example.org") == []
    login(client, "admin@example.org")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "cannot render: RuntimeError: la plantilla no existe" in page
    page = client.get(f"/admin/outbox/{row_id}").get_data(as_text=True)
    assert "No se puede generar ahora" in page and "la plantilla no existe" in page
    # Fixed, and its retry due: it goes out, once, rendered.
    register_message_renderer(messages.CONFIRMED_KIND, messages.render_confirmed)
    with app.app_context():
        row = db.session.get(Notification, row_id)
        row.next_attempt_at = None
        db.session.commit()
        assert deliver_outbox() == 1
        assert db.session.get(Notification, row_id).status == "sent"
    (mail,) = mails_to(mail_dir, "lucia@example.org")
    assert "Registro confirmado" in str(mail["Subject"])


def test_the_admin_page_shows_the_message_as_it_would_go_out(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        person = make_user("lucia@example.org")
        registration = services.register(person, make_event(make_institution("inegi"), capacity=5))
        code, row_id = registration.code, outbox_row(person.id).id
    login(client, "admin@example.org")
    page = client.get(f"/admin/outbox/{row_id}").get_data(as_text=True)
    assert code in page and "se genera al enviarse" in page


def test_a_confirmation_of_a_registration_cancelled_before_sending_is_withheld(app, ctx, mail_dir):
    event = make_event(make_institution("inegi"), capacity=5)
    person = make_user("lucia@example.org")
    registration = services.register(person, event)
    services.cancel_registration(person, db.session.get(Registration, registration.id))
    deliver_outbox()
    subjects = [str(m["Subject"]) for m in mails_to(mail_dir, "lucia@example.org")]
    assert len(subjects) == 1 and "Cancelaste" in subjects[0]
    row = outbox_row(person.id)
    assert row.status == "withheld" and "cancelled" in row.last_error


def test_a_password_reset_stays_rendered_when_written(app, ctx):
    from accounts import services as accounts

    person = make_user("lucia@example.org")
    accounts.request_password_reset(person.email)
    row = db.session.execute(select(Notification).where(Notification.user_id == person.id)).scalars().one()
    assert row.render_refs is None and row.body_text and row.secret_values
