"""What a message looks like on the wire: MIME structure, encodings, attachments, and the
fan-out's render-once shortcut producing exactly what a plain render would."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import select

from core.extensions import db
from core.timeutil import utcnow
from notifications import services
from notifications.delivery import build_message
from notifications.models import Notification
from notifications.services import rendering
from tests.factories import make_user

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def test_message_structure_encodings_and_attachments(app, ctx):
    user = make_user("ana@example.org", name="Ana Pérez Núñez")
    row = services.notify(
        to=user,
        kind="events.confirmation",
        subject="Confirmación: mesa de diálogo sobre datos de movilidad y transporte público en Guadalajara",
        template="notifications/email/reminder",
        dedupe_key="k",
        context={"title": "Mesa", "message": "Te esperamos."},
        category="events",
        attachments=[
            {
                "filename": "actividad-7.ics",
                "content_type": "text/calendar",
                "data": base64.b64encode(ICS).decode(),
                "method": "REQUEST",
            },
            {
                "filename": "logo.png",
                "content_type": "image/png",
                "data": base64.b64encode(PNG).decode(),
                "content_id": "logo@promueve",
            },
        ],
    )
    db.session.commit()
    outgoing = build_message(row)
    assert outgoing.sender == "no-reply@promueve.localhost" and outgoing.recipient == "ana@example.org"
    assert b"\r\n" in outgoing.data and all(len(line) <= 998 for line in outgoing.data.split(b"\r\n"))
    message = parse(outgoing.data)
    assert message["Subject"] == row.subject  # encoded words decode back to the text
    assert message["To"].addresses[0].display_name == "Ana Pérez Núñez"
    assert message["Message-ID"] == row.message_id
    assert message["List-Unsubscribe"] == f"<{row.unsubscribe_url}>"
    assert message.get_content_type() == "multipart/mixed"
    assert "Te esperamos." in message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("related", "html"))
    assert html.get_content_type() == "multipart/related"
    [calendar] = [part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == "REQUEST" and calendar.get_filename() == "actividad-7.ics"
    assert calendar.get_content().encode() == ICS or calendar.get_payload(decode=True) == ICS
    [image] = [part for part in html.iter_parts() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<logo@promueve>" and image.get_payload(decode=True) == PNG


def test_line_breaks_in_header_values_are_refused(app, ctx):
    user = make_user()
    row = services.notify(
        to=user,
        kind="x",
        subject="Hola\r\nBcc: intruso@example.org",
        template="notifications/email/reminder",
        dedupe_key="k",
        context={"title": "T", "message": "M"},
    )
    # A subject is text shown on one line: its line breaks become spaces, never headers.
    data = build_message(row).data
    assert b"\nBcc:" not in data and b"Subject: Hola Bcc: intruso@example.org" in data
    row.kind = "x\r\nBcc: intruso@example.org"
    with pytest.raises(ValueError):
        build_message(row)


RENDER_KIND = "test.render"


def render_for_memo(row):
    return services.RenderedReminder(
        subject="Recordatorio",
        template="notifications/email/reminder",
        context={
            "title": "Mesa <de> diálogo & más",
            "message": "Falta poco.",
            "starts_at": datetime(2026, 12, 3, 18, 0, tzinfo=UTC),
            "institution_name": "INEGI",
        },
    )


def test_fan_out_renders_once_and_fills_in_each_recipient_exactly(app, ctx):
    services.register_renderer(RENDER_KIND, render_for_memo)
    names = ["Ana O'Brien & <Hijos>", "José Núñez", "Lu"]
    users = [make_user(f"p{i}@example.org", name=name) for i, name in enumerate(names)]
    users[2].locale = "en"
    db.session.commit()
    for user in users:
        services.schedule(
            kind=RENDER_KIND,
            subject="event:1",
            recipient=user,
            fire_at=utcnow() - timedelta(seconds=1),
            offset_key="24h",
            checksum="v1",
            category="events",
        )
    db.session.commit()
    assert services.fire_due_reminders() == {"sent": 3}
    rows = db.session.execute(select(Notification).order_by(Notification.id)).scalars().all()
    for row, user in zip(rows, users, strict=True):
        _subject, text, html = rendering._render_email(
            "notifications/email/reminder",
            subject="Recordatorio",
            locale=user.locale,
            timezone=user.timezone,
            name=user.name,
            email=user.email,
            context=render_for_memo(None).context,
            category="events",
            unsubscribe_url=row.unsubscribe_url,
        )
        assert (row.body_text, row.body_html) == (text, html)
    assert "Ana O&#39;Brien &amp; &lt;Hijos&gt;" in rows[0].body_html
    assert "Ana O'Brien & <Hijos>" in rows[0].body_text
    assert "Hello" in rows[2].body_text or "Hola" in rows[2].body_text


def test_templates_that_transform_the_recipient_are_rendered_each_time(app, ctx, monkeypatch):
    loader = DictLoader(
        {
            "probe/email/shout.txt": "{{ recipient_name|upper }}",
            "probe/email/shout.html": "<p>{{ recipient_name }}</p>",
            "probe/email/plain.txt": (
                "{% if recipient_name %}{{ _('Hola, %(n)s', n=recipient_name) }}{% endif %}"
            ),
            "probe/email/plain.html": "<p>{{ recipient_email }} {{ unsubscribe_url }}</p>",
        }
    )
    monkeypatch.setattr(app.jinja_env, "loader", ChoiceLoader([loader, app.jinja_env.loader]))
    monkeypatch.setattr(rendering, "_PLAIN_USES", {})
    assert rendering._renders_recipient_plainly("probe/email/plain")
    assert not rendering._renders_recipient_plainly("probe/email/shout")
    assert rendering._renders_recipient_plainly("notifications/email/reminder")
    assert rendering._renders_recipient_plainly("notifications/email/digest")


def test_text_parts_read_as_they_are_in_eml_files_and_stay_short_over_smtp():
    from email import message_from_bytes, policy

    from notifications.mime import write_message

    link = "https://promueve.test/password/reset/" + "abc_DEF-123." * 10 + "?x=1&y=2"
    text = f"Hola, María. Entra aquí:\n{link}\n" + "línea larga " * 20
    html = f'<p><a href="{link}">{link}</a></p>'
    for eight_bit in (True, False):
        raw = write_message([("Subject", "Prueba")], text=text, html=html, eight_bit=eight_bit)
        parsed = message_from_bytes(raw, policy=policy.default)
        plain = parsed.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        assert plain.rstrip("\n") == text.rstrip("\n")
        assert link in parsed.get_body(preferencelist=("html",)).get_content()
        if eight_bit:
            assert b"Content-Transfer-Encoding: 8bit" in raw
            assert link.encode() in raw and "María".encode() in raw  # whole, readable with less
        else:
            assert b"Content-Transfer-Encoding: quoted-printable" in raw
            assert all(len(line) <= 76 for line in raw.split(b"\r\n") if not line.startswith(b"Content-Type"))


def test_development_eml_files_show_links_whole(app, ctx, mail_dir):
    from accounts import services as account_services
    from tests.factories import deliver_outbox, make_user

    make_user("nuevo@example.org", verified=False)
    account_services.resend_verification("nuevo@example.org")
    deliver_outbox()
    (path,) = list(mail_dir.glob("*.eml"))
    raw = path.read_bytes()
    assert b"Content-Transfer-Encoding: 8bit" in raw
    link = next(line for line in raw.split(b"\r\n") if line.startswith(b"http://promueve.test/"))
    assert b"=\r\n" not in link and len(link) > 60  # one whole line, not cut or encoded
