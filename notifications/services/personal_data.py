"""Personal data (ARCO): what notifications hold about a person, exported or erased."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update

from core.extensions import db
from core.models import User
from notifications.models import (
    DigestItem,
    InAppNotification,
    MailboxHealth,
    Notification,
    NotificationPreference,
    NotificationStatus,
    ScheduledNotification,
)
from notifications.services.preferences import preferences_of


def _addressed_to(user_id: int, email: str):
    # Messages sent before the person had an account carry only the address.
    return or_(Notification.user_id == user_id, Notification.to_email == email)


def erase_recipient(user_id: int, email: str, anonymous_email: str) -> None:
    """Remove a person's address, message bodies, notification centre, digests,
    preferences and pending reminders (ARCO erasure; inside the caller's transaction)."""
    db.session.execute(
        update(Notification)
        .where(_addressed_to(user_id, email))
        .values(
            to_email=anonymous_email,
            to_name="",
            body_text="",
            body_html="",
            subject="",
            unsubscribe_url="",
            attachments=None,
            secret_values=None,
        )
    )
    db.session.execute(
        update(Notification)
        .where(_addressed_to(user_id, anonymous_email), Notification.status == NotificationStatus.queued)
        .values(status=NotificationStatus.withheld, last_error="recipient erased")
    )
    db.session.execute(delete(InAppNotification).where(InAppNotification.user_id == user_id))
    db.session.execute(delete(DigestItem).where(DigestItem.user_id == user_id))
    db.session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
    db.session.execute(delete(ScheduledNotification).where(ScheduledNotification.recipient_id == user_id))
    db.session.execute(delete(MailboxHealth).where(MailboxHealth.email == email))


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


def notification_data_for(user: User) -> dict[str, Any]:
    """Preferences, notification centre and pending reminders of a person (data export)."""
    return {
        "preferences": {str(k): str(v) for k, v in preferences_of(user).items()},
        "in_app": [
            {
                "title": i.title,
                "link": i.link,
                "created_at": i.created_at.isoformat(),
                "read": bool(i.read_at),
            }
            for i in db.session.execute(
                select(InAppNotification)
                .where(InAppNotification.user_id == user.id)
                .order_by(InAppNotification.id)
            ).scalars()
        ],
        "scheduled": [
            {"kind": r.kind, "subject": r.subject, "fire_at": r.fire_at.isoformat(), "status": str(r.status)}
            for r in db.session.execute(
                select(ScheduledNotification)
                .where(ScheduledNotification.recipient_id == user.id)
                .order_by(ScheduledNotification.id)
            ).scalars()
        ],
    }
