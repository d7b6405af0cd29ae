"""The in-app notification centre: unread count, inbox pages, marking read, retention."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from notifications.models import DigestItem, InAppNotification, ScheduledNotification, ScheduledStatus


def unread_count(user: User) -> int:
    """How many in-app notifications the person has not read."""
    return db.session.execute(
        select(func.count())
        .select_from(InAppNotification)
        .where(InAppNotification.user_id == user.id, InAppNotification.read_at.is_(None))
    ).scalar_one()


def inbox(
    user: User, *, page: int = 1, per_page: int = 30, unread_only: bool = False
) -> tuple[list[InAppNotification], int]:
    """A page of the person's notifications, newest first, and the total count."""
    conditions = [InAppNotification.user_id == user.id]
    if unread_only:
        conditions.append(InAppNotification.read_at.is_(None))
    total = db.session.execute(
        select(func.count()).select_from(InAppNotification).where(*conditions)
    ).scalar_one()
    items = db.session.execute(
        select(InAppNotification)
        .where(*conditions)
        .order_by(InAppNotification.created_at.desc(), InAppNotification.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).scalars()
    return list(items), total


def in_app_item(user: User, item_id: int) -> InAppNotification:
    """One of the person's notifications (404 when it is not theirs)."""
    item = db.session.get(InAppNotification, item_id)
    if item is None or item.user_id != user.id:
        raise DomainError(_l("Esa notificación no existe."), status=404)
    return item


def mark_read(user: User, item_id: int) -> InAppNotification:
    """Mark one notification read (idempotent)."""
    item = in_app_item(user, item_id)
    if item.read_at is None:
        item.read_at = utcnow()
        db.session.commit()
    return item


def mark_all_read(user: User) -> int:
    """Mark every unread notification of the person read; returns how many."""
    count = db.session.execute(
        update(InAppNotification)
        .where(InAppNotification.user_id == user.id, InAppNotification.read_at.is_(None))
        .values(read_at=utcnow())
    ).rowcount
    db.session.commit()
    return count


def purge_old_notifications() -> dict[str, int]:
    """Forget in-app entries, used digest lines and finished ledger rows past retention."""
    cutoff = utcnow() - timedelta(days=current_app.config["IN_APP_RETENTION_DAYS"])
    result = {
        "in_app": db.session.execute(
            delete(InAppNotification).where(InAppNotification.created_at < cutoff)
        ).rowcount,
        "digest_items": db.session.execute(
            delete(DigestItem).where(DigestItem.digest_id.is_not(None), DigestItem.created_at < cutoff)
        ).rowcount,
        "scheduled": db.session.execute(
            delete(ScheduledNotification).where(
                ScheduledNotification.status != ScheduledStatus.pending,
                ScheduledNotification.updated_at < cutoff,
            )
        ).rowcount,
    }
    db.session.commit()
    return result
