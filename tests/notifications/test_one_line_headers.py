"""A line break stored in a title or a name never stops an email: subjects and display
names are made one line when the message is written and again when it is sent."""

from __future__ import annotations

from sqlalchemy import select, update

from core.extensions import db
from events import services as event_services
from events.models import Event
from notifications.models import Notification, NotificationStatus
from tests.factories import deliver_outbox, mails_to, make_event, make_institution, make_user, read_mails


def test_an_event_title_with_a_line_break_in_the_database_still_gets_its_emails(app, ctx, mail_dir):
    event = make_event(make_institution("inegi"))
    # Stored before validation existed (or by any path that skips it).
    db.session.execute(
        update(Event).where(Event.id == event.id).values(title="Mesa de datos\r\nBcc: todos@example.org")
    )
    db.session.commit()
    ana = make_user("ana@example.org", name="Ana\nLópez")
    event_services.register(ana, db.session.get(Event, event.id))
    db.session.commit()
    deliver_outbox()
    rows = db.session.execute(select(Notification)).scalars().all()
    assert rows and {row.status for row in rows} == {NotificationStatus.sent}, [
        (row.kind, row.status, row.last_error) for row in rows
    ]
    (message,) = mails_to(mail_dir, "ana@example.org")
    assert "Mesa de datos Bcc: todos@example.org" in message["Subject"]
    assert message["Bcc"] is None
    assert str(message["To"]).startswith("Ana López")


def test_a_subject_already_stored_with_a_line_break_is_sent_on_one_line(app, ctx, mail_dir):
    from notifications import services

    user = make_user("beto@example.org")
    row = services.notify(
        to=user,
        kind="account.verify",
        subject="Confirma tu correo",
        template="accounts/email/verify",
        dedupe_key="k1",
        context={"verify_url": "http://promueve.test/verify/x", "hours": 48},
    )
    db.session.commit()
    db.session.execute(
        update(Notification)
        .where(Notification.id == row.id)
        .values(subject="Confirma\ntu correo", to_name="B\r")
    )
    db.session.commit()
    deliver_outbox()
    assert db.session.get(Notification, row.id).status == NotificationStatus.sent
    (message,) = read_mails(mail_dir)
    assert message["Subject"] == "Confirma tu correo"
