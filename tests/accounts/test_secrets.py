"""Secrets stay secret: link tokens are masked on admin pages and gone from the outbox
once sent; a reset request answers the same whatever the address, its work done by the
worker after the answer."""

from __future__ import annotations

import re

import pytest
import redis
from sqlalchemy import func, select

from accounts import services
from core.extensions import db
from notifications import services as notifications
from notifications.delivery import SECRET_MASK
from notifications.models import Notification
from tests.conftest import REDIS_URL
from tests.factories import (
    QueryCounter,
    deliver_outbox,
    first_link,
    login,
    mails_to,
    make_institution,
    make_liaison,
    make_user,
    run_queued_tasks,
)
from tests.processes import celery_worker, wait_for

NEW_PASSWORD = "Nuevo-jaguar-de-Chiapas-7"


def outbox_count() -> int:
    return db.session.execute(select(func.count()).select_from(Notification)).scalar_one()


def token_of(link: str) -> str:
    return link.rstrip("/").rpartition("/")[2]


def test_the_reset_link_is_masked_for_admins_and_gone_once_sent(app, client, mail_dir):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        make_user("luis@example.org")
        services.request_password_reset("luis@example.org")
        row = db.session.execute(select(Notification)).scalar_one()
        row_id = row.id
        [secret] = row.secret_values
        assert secret in row.body_text  # still needed: the message has not gone out yet
    login(client, "admin@example.org")
    page = client.get(f"/admin/outbox/{row_id}").get_data(as_text=True)
    assert secret not in page and f"/password/reset/{SECRET_MASK}" in page

    with app.app_context():
        deliver_outbox()
        row = db.session.get(Notification, row_id)
        assert row.status == "sent" and row.secret_values is None
        assert secret not in row.body_text and secret not in row.body_html
        assert f"/password/reset/{SECRET_MASK}" in row.body_text
    page = client.get(f"/admin/outbox/{row_id}").get_data(as_text=True)
    assert secret not in page

    # The person got the real link, and it works.
    link = first_link(mails_to(mail_dir, "luis@example.org")[0], "/password/reset/")
    assert token_of(link) == secret
    reset = app.test_client().post(
        link.replace("http://promueve.test", ""), data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert reset.status_code == 302 and reset.headers["Location"].endswith("/login")


def test_verification_and_invitation_links_are_scrubbed_once_sent(app, client, mail_dir):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    client.post(
        "/signup",
        data={
            "name": "Ana Pérez",
            "email": "ana@example.org",
            "password": "Mariposa-monarca-2026",
            "sector": "academia",
            "accept_privacy": "y",
        },
    )
    liaison = app.test_client()
    login(liaison, "enlace@example.org")
    liaison.post("/institutions/inegi/members", data={"email": "nueva@example.org", "role": "staff"})
    with app.app_context():
        deliver_outbox()
        rows = db.session.execute(select(Notification).order_by(Notification.id)).scalars().all()
        assert [row.kind for row in rows] == ["account.verify", "institution.invitation"]
        stored = " ".join(row.body_text + row.body_html for row in rows)
        assert all(row.secret_values is None for row in rows)
    verify = first_link(mails_to(mail_dir, "ana@example.org")[0], "/verify/")
    invite = first_link(mails_to(mail_dir, "nueva@example.org")[0], "/invitations/")
    for link in (verify, invite):
        assert token_of(link) not in stored
    assert f"/verify/{SECRET_MASK}" in stored and f"/invitations/{SECRET_MASK}" in stored
    assert client.get(verify.replace("http://promueve.test", "")).status_code == 302  # still works


def test_a_failed_message_keeps_its_secret_for_a_retry_but_admins_never_see_it(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        make_user("luis@example.org")
        services.request_password_reset("luis@example.org")
        row = db.session.execute(select(Notification)).scalar_one()
        row.status, row.last_error = "failed", "550 mailbox unavailable"
        db.session.commit()
        row_id, [secret] = row.id, row.secret_values
    login(client, "admin@example.org")
    page = client.get(f"/admin/outbox/{row_id}").get_data(as_text=True)
    assert secret not in page and "550 mailbox unavailable" in page
    with app.app_context():
        assert secret in db.session.get(Notification, row_id).body_text


def test_unsubscribe_tokens_are_masked_on_the_admin_page(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        user = make_user("luis@example.org")
        row = notifications.notify(
            to=user,
            kind="surveys.opened",
            subject="Nueva encuesta",
            template="notifications/email/reminder",
            dedupe_key="unsubscribe-mask",
            category="surveys",
            context={"title": "Encuesta", "message": "Hola", "url": "http://promueve.test/x"},
        )
        db.session.commit()
        row_id, unsubscribe = row.id, row.unsubscribe_url
    login(client, "admin@example.org")
    page = client.get(f"/admin/outbox/{row_id}").get_data(as_text=True)
    assert token_of(unsubscribe) not in page and f"/unsubscribe/{SECRET_MASK}" in page


def test_forgot_password_answers_the_same_and_leaves_the_work_to_the_worker(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
        engine = db.engine
    answers, statements = [], []
    for email in ("luis@example.org", "nadie@example.org"):
        with QueryCounter(engine) as counter:
            response = client.post("/password/forgot", data={"email": email})
        statements.append(counter.count)
        answers.append((response.status_code, response.get_data(as_text=True).replace(email, "X")))
    assert answers[0] == answers[1] and answers[0][0] == 200
    assert statements[0] == statements[1] == 0  # the request does not even look the address up
    with app.app_context():
        assert outbox_count() == 0  # nothing done yet: only queued
        assert run_queued_tasks() == ["accounts.send_password_reset"] * 2
        assert outbox_count() == 1
        assert deliver_outbox() == 1
    assert len(mails_to(mail_dir, "luis@example.org")) == 1


def test_resending_verification_answers_the_same_and_leaves_the_work_to_the_worker(app, client, mail_dir):
    with app.app_context():
        make_user("nuevo@example.org", verified=False)
        make_user("luis@example.org")
        engine = db.engine
    answers, statements = [], []
    for email in ("nuevo@example.org", "luis@example.org", "nadie@example.org"):
        with QueryCounter(engine) as counter:
            response = client.post("/verify/resend", data={"email": email})
        statements.append(counter.count)
        answers.append((response.status_code, response.get_data(as_text=True).replace(email, "X")))
    assert answers[0] == answers[1] == answers[2] and answers[0][0] == 200
    assert statements == [0, 0, 0]  # the request does not even look the address up
    with app.app_context():
        assert outbox_count() == 0
        assert run_queued_tasks() == ["accounts.resend_verification"] * 3
        assert outbox_count() == 1  # only the unverified account gets a link
        assert deliver_outbox() == 1
    assert len(mails_to(mail_dir, "nuevo@example.org")) == 1


def test_a_malformed_address_is_refused_and_nothing_is_queued(app, client):
    response = client.post("/password/forgot", data={"email": "no es un correo"})
    assert response.status_code == 200 and "Escribe un correo electrónico válido." in response.get_data(
        as_text=True
    )
    assert redis.Redis.from_url(REDIS_URL).llen("default") == 0


def test_the_reset_task_is_safe_for_unknown_and_deleted_addresses(app, ctx):
    # Through this app's Celery: `tasks.send_password_reset` is a shared task, bound to whichever
    # app was created last (another test's), which would write to another database.
    reset = app.extensions["celery"].tasks[services.PASSWORD_RESET_TASK]
    reset.apply(args=["nadie@example.org"]).get()
    assert outbox_count() == 0
    user = make_user("luis@example.org")
    services.delete_account(user, "Lluvia-de-datos-2026")
    reset.apply(args=["luis@example.org"]).get()
    assert outbox_count() == 0
    make_user("ana@example.org")
    reset.apply(args=["Ana@Example.org"]).get()
    assert outbox_count() == 1


def test_a_reset_request_still_answers_when_the_broker_is_down(app, client, monkeypatch):
    celery = app.extensions["celery"]

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr(celery, "send_task", broker_down)
    response = client.post("/password/forgot", data={"email": "luis@example.org"})
    assert response.status_code == 200 and re.search(r"luis@example\.org", response.get_data(as_text=True))


@pytest.mark.worker
def test_a_real_worker_sends_the_reset_link_and_scrubs_it(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
    assert client.post("/password/forgot", data={"email": "luis@example.org"}).status_code == 200
    with celery_worker():
        wait_for(lambda: len(mails_to(mail_dir, "luis@example.org")) == 1, timeout=30)
    link = first_link(mails_to(mail_dir, "luis@example.org")[0], "/password/reset/")
    with app.app_context():
        row = db.session.execute(select(Notification)).scalar_one()
        assert row.status == "sent" and token_of(link) not in row.body_text
