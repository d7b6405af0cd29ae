"""The outbox workflow: write in the caller's transaction, enqueue after commit,
deliver at most once, retry with backoff, sweep what got stuck."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Mapping
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from notifications.models import Notification, NotificationStatus
from notifications.transport import DeliveryError, deliver

log = logging.getLogger(__name__)

SEND_TASK = "notifications.send_notification"
_PENDING_KEY = "promueve_outbox_pending"
# Retries this short ride on the task queue (countdown); longer ones wait for the
# sweeper, so no ETA outlives the broker's visibility timeout.
SHORT_RETRY_SECONDS = 300


def notify(
    *,
    to: User | str,
    kind: str,
    subject: Any,
    template: str,
    dedupe_key: str,
    context: Mapping[str, Any] | None = None,
    locale: str | None = None,
    timezone: str | None = None,
) -> Notification:
    """Write one outbox row inside the caller's transaction (sent after commit).

    `template` names `<template>.txt` and `<template>.html`; both and the subject
    are rendered in the recipient's locale. A second call with the same
    `dedupe_key` returns the existing row instead of writing another.
    """
    existing = db.session.execute(
        select(Notification).where(Notification.dedupe_key == dedupe_key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    if isinstance(to, User):
        user, email, name = to, to.email, to.name
        locale = locale or to.locale
        timezone = timezone or to.timezone
    else:
        user, email, name = None, to, ""
    locale = locale or current_app.config["DEFAULT_LOCALE"]
    timezone = timezone or current_app.config["DEFAULT_TIMEZONE"]
    values = {"recipient_name": name, "recipient_email": email, "tz": timezone, **(context or {})}
    with force_locale(locale):
        rendered_subject = str(subject)
        values["subject"] = rendered_subject
        body_text = render_template(f"{template}.txt", **values)
        body_html = render_template(f"{template}.html", **values)
    now = utcnow()
    row = Notification(
        user_id=user.id if user is not None else None,
        to_email=email,
        to_name=name,
        kind=kind,
        locale=locale,
        subject=rendered_subject,
        body_text=body_text,
        body_html=body_html,
        dedupe_key=dedupe_key,
        status=NotificationStatus.queued,
        created_at=now,
        enqueued_at=now,
    )
    db.session.add(row)
    db.session.flush()
    row.message_id = make_message_id(row)
    db.session.info.setdefault(_PENDING_KEY, []).append(row.id)
    return row


def make_message_id(row: Notification) -> str:
    """A Message-ID fixed per row, so a re-sent message is recognisably the same."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "promueve"
    digest = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:12]
    return f"<promueve.{row.id}.{digest}@{domain}>"


def enqueue(notification_ids: list[int]) -> None:
    """Publish send tasks; a failure is logged and left to the sweeper."""
    celery = current_app.extensions.get("celery")
    if celery is None:
        return
    for notification_id in notification_ids:
        try:
            celery.send_task(SEND_TASK, args=[notification_id], retry=False)
        except Exception:  # noqa: BLE001 - broker down: the sweeper re-queues it later
            log.warning("could not enqueue notification %s; the sweeper will", notification_id)


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        enqueue(pending)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def build_message(row: Notification) -> EmailMessage:
    """The MIME message for an outbox row (text and HTML alternatives)."""
    message = EmailMessage()
    message["Subject"] = row.subject
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = formataddr((row.to_name, row.to_email)) if row.to_name else row.to_email
    message["Message-ID"] = row.message_id or make_message_id(row)
    message["Date"] = format_datetime(row.created_at)
    message["X-Promueve-Kind"] = row.kind
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    # After set_content, which replaces Content-* headers.
    message["Content-Language"] = row.locale.replace("_", "-")
    return message


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: half the nominal delay plus a random half."""
    config = current_app.config
    nominal = min(config["MAIL_RETRY_MAX_SECONDS"], config["MAIL_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1))
    return nominal / 2 + random.uniform(0, nominal / 2)


def send_notification(notification_id: int) -> tuple[str, float | None]:
    """Deliver one outbox row at most once; returns (outcome, retry delay)."""
    now = utcnow()
    # The conditional UPDATE is the lock: only one worker can move the row from
    # queued to sending, so a redelivered or duplicated task finds nothing to do.
    claimed = db.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == NotificationStatus.queued,
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .values(status=NotificationStatus.sending, claimed_at=now, attempts=Notification.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped", None
    row = db.session.get(Notification, notification_id)
    attempts = row.attempts
    try:
        message = build_message(row)
    except Exception as exc:
        log.exception("notification %s cannot be built", notification_id)
        return _record_failure(
            notification_id, attempts, DeliveryError(f"cannot build: {exc}", permanent=True)
        )
    # End the read before talking to SMTP: no transaction (and, on SQLite, no write
    # lock) is held while a slow server answers.
    db.session.commit()
    try:
        deliver(message, name=f"{now:%Y%m%dT%H%M%S}-{notification_id}")
    except DeliveryError as exc:
        return _record_failure(notification_id, attempts, exc)
    except Exception as exc:
        log.exception("notification %s: unexpected delivery error", notification_id)
        return _record_failure(
            notification_id, attempts, DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)
        )
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.sending)
        .values(status=NotificationStatus.sent, sent_at=utcnow(), last_error=None)
    )
    db.session.commit()
    return "sent", None


def _record_failure(notification_id: int, attempts: int, exc: DeliveryError) -> tuple[str, float | None]:
    values: dict[str, Any] = {"last_error": str(exc)[:2000]}
    outcome: tuple[str, float | None]
    if exc.permanent or attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        values["status"] = NotificationStatus.failed
        log.warning("notification %s failed permanently: %s", notification_id, exc)
        outcome = ("failed", None)
    else:
        delay = retry_delay(attempts)
        next_attempt = utcnow() + timedelta(seconds=delay)
        values.update(
            status=NotificationStatus.queued,
            next_attempt_at=next_attempt,
            enqueued_at=next_attempt if delay <= SHORT_RETRY_SECONDS else None,
        )
        outcome = ("retry", delay)
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.sending)
        .values(**values)
    )
    db.session.commit()
    return outcome


def sweep_outbox() -> int:
    """Re-queue rows stuck queued (never picked up) or sending (worker died)."""
    now = utcnow()
    stuck_before = now - timedelta(seconds=current_app.config["OUTBOX_STUCK_AFTER_SECONDS"])
    stuck = (Notification.status == NotificationStatus.sending, Notification.claimed_at < stuck_before)
    # A row that keeps killing its worker stops once it has used its attempts.
    db.session.execute(
        update(Notification)
        .where(*stuck, Notification.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"])
        .values(status=NotificationStatus.failed, last_error="gave up: the worker never finished sending")
    )
    db.session.execute(
        update(Notification).where(*stuck).values(status=NotificationStatus.queued, enqueued_at=None)
    )
    due = (
        db.session.execute(
            select(Notification.id)
            .where(
                Notification.status == NotificationStatus.queued,
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
                or_(Notification.enqueued_at.is_(None), Notification.enqueued_at < stuck_before),
            )
            .order_by(Notification.id)
            .limit(5000)
        )
        .scalars()
        .all()
    )
    if due:
        db.session.execute(update(Notification).where(Notification.id.in_(due)).values(enqueued_at=now))
    db.session.commit()
    enqueue(list(due))
    return len(due)


def _addressed_to(user_id: int, email: str):
    # Messages sent before the person had an account carry only the address.
    return or_(Notification.user_id == user_id, Notification.to_email == email)


def erase_recipient(user_id: int, email: str, anonymous_email: str) -> None:
    """Remove a person's address and message bodies from the outbox (ARCO erasure)."""
    db.session.execute(
        update(Notification)
        .where(_addressed_to(user_id, email))
        .values(to_email=anonymous_email, to_name="", body_text="", body_html="", subject="")
    )


def notifications_for(user_id: int, email: str) -> list[dict[str, Any]]:
    """What the outbox holds about a person, for their data export."""
    rows = db.session.execute(
        select(Notification).where(_addressed_to(user_id, email)).order_by(Notification.id)
    ).scalars()
    return [
        {
            "kind": row.kind,
            "subject": row.subject,
            "to": row.to_email,
            "status": str(row.status),
            "created_at": row.created_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        }
        for row in rows
    ]
