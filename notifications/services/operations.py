"""Delivery operations: the outbox as admins see it (masked), retry and withhold; and a
person's own retry of an undeliverable mailbox."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from notifications import delivery
from notifications.models import Notification, NotificationStatus
from notifications.services.outbox import _add_email
from notifications.services.preferences import mailbox_problem


def retry_mailbox(user: User) -> Notification:
    """The person says their mailbox works again: try once more with a check email.

    The address goes back on probation (one more permanent failure marks it again);
    a delivered message clears it.
    """
    health = mailbox_problem(user)
    if health is None:
        raise DomainError(_l("Tu correo no tiene problemas de entrega."), status=409)
    health.undeliverable_since = None
    health.permanent_failures = max(0, current_app.config["MAIL_BOUNCE_LIMIT"] - 1)
    row = _add_email(
        to=user,
        kind="notifications.mailbox_check",
        subject=_l("Prueba de entrega de Promueve"),
        template="notifications/email/mailbox_check",
        dedupe_key=f"mailbox-check:{user.id}:{utcnow():%Y%m%d%H%M%S%f}",
        context={"preferences_url": external_url("notifications.preferences")},
        locale=None,
        timezone=None,
    )
    audit.record("mailbox.retry", user, actor=user)
    db.session.commit()
    return row


def outbox_rows(
    *,
    status: str | None = None,
    kind: str | None = None,
    query: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Notification], int]:
    """Outbox rows for the admin page, newest first, with the filtered total.

    `query`: words that must each appear (case-insensitively, literally) in the recipient's
    address or name, the subject or the kind.
    """
    conditions = []
    if status:
        conditions.append(Notification.status == NotificationStatus(status))
    if kind:
        conditions.append(Notification.kind == kind)
    searched = (Notification.to_email, Notification.to_name, Notification.subject, Notification.kind)
    for word in (query or "").split()[:8]:
        conditions.append(or_(*(column.icontains(word, autoescape=True) for column in searched)))
    total = db.session.execute(select(func.count()).select_from(Notification).where(*conditions)).scalar_one()
    rows = db.session.execute(
        select(Notification).where(*conditions).order_by(Notification.id.desc()).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


def outbox_summary() -> dict[str, int]:
    """Outbox rows per status."""
    counts = dict(
        db.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all()
    )
    return {str(status): counts.get(status, 0) for status in NotificationStatus}


def outbox_kinds() -> list[str]:
    """Every kind present in the outbox (for the filter)."""
    return list(
        db.session.execute(select(Notification.kind).distinct().order_by(Notification.kind)).scalars()
    )


def outbox_message(notification_id: int) -> Notification:
    """One outbox row (404 DomainError when there is none)."""
    row = db.session.get(Notification, notification_id)
    if row is None:
        raise DomainError(_l("Ese mensaje no existe."), status=404)
    return row


def masked_for_admins(row: Notification, value: str) -> str:
    """`value` (a body, an address) with the message's secrets and its unsubscribe token
    masked: what an admin may see of a message."""
    hidden = list(row.secret_values or [])
    if row.unsubscribe_url:
        hidden.append(row.unsubscribe_url.rstrip("/").rpartition("/")[2])
    return delivery.mask_secrets(value, hidden)


def retry_notification(actor: User | None, notification_id: int) -> Notification:
    """Put a failed or withheld message back in the queue with fresh attempts."""
    row = outbox_message(notification_id)
    if row.status not in (NotificationStatus.failed, NotificationStatus.withheld):
        raise DomainError(_l("Solo se pueden reintentar mensajes fallidos o retenidos."))
    _requeue(row)
    audit.record("outbox.retry", row, actor=actor, details={"kind": row.kind})
    db.session.commit()
    return row


def retry_failed(actor: User | None, *, kind: str | None = None) -> int:
    """Re-queue every failed message (optionally of one kind); returns how many."""
    conditions = [Notification.status == NotificationStatus.failed]
    if kind:
        conditions.append(Notification.kind == kind)
    rows = list(db.session.execute(select(Notification).where(*conditions).limit(10_000)).scalars())
    for row in rows:
        _requeue(row)
    if rows:
        audit.record("outbox.retry_failed", None, actor=actor, details={"kind": kind, "count": len(rows)})
    db.session.commit()
    return len(rows)


def _requeue(row: Notification) -> None:
    now = utcnow()
    row.status = NotificationStatus.queued
    row.attempts = 0
    row.next_attempt_at = None
    row.claimed_at = None
    row.enqueued_at = now
    delivery.remember_for_enqueue(row.id)


def withhold_notification(actor: User | None, notification_id: int) -> Notification:
    """Stop a queued message from going out (it can be retried later)."""
    row = outbox_message(notification_id)
    updated = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.queued)
        .values(status=NotificationStatus.withheld, last_error="withheld by an administrator")
    ).rowcount
    if not updated:
        db.session.rollback()
        raise DomainError(_l("Solo se pueden retener mensajes que siguen en cola."))
    audit.record("outbox.withhold", row, actor=actor, details={"kind": row.kind})
    db.session.commit()
    db.session.refresh(row)
    return row
