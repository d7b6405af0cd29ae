"""Digests: each person's daily or weekly email of the lines collected for it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import User
from core.timeutil import is_valid_timezone, utcnow
from core.urls import external_url
from notifications.models import Category, Channel, Digest, DigestItem
from notifications.services.common import CATEGORY_LABELS, DIGEST_CATEGORY
from notifications.services.outbox import _add_email


def digest_period(now: datetime, zone: str, frequency: str) -> tuple[datetime, str]:
    """The start (UTC) and name of the digest period containing `now` in `zone`.

    Daily periods start at DIGEST_HOUR each day; weekly ones on Monday at that hour.
    """
    tz = ZoneInfo(zone if is_valid_timezone(zone) else current_app.config["DEFAULT_TIMEZONE"])
    hour = time(current_app.config["DIGEST_HOUR"])
    local = now.astimezone(tz)
    day = local.date()
    if frequency == Channel.weekly:
        day -= timedelta(days=local.weekday())
    start = datetime.combine(day, hour, tzinfo=tz)
    if local < start:
        day -= timedelta(days=7 if frequency == Channel.weekly else 1)
        start = datetime.combine(day, hour, tzinfo=tz)
    if frequency == Channel.weekly:
        year, week, _ = day.isocalendar()
        return start.astimezone(UTC), f"{year}-W{week:02d}"
    return start.astimezone(UTC), day.isoformat()


def send_due_digests() -> int:
    """Beat: email each person's digest once their period has started (08:00 local).

    A digest holds the lines written before the period began; it is never empty and
    the unique (person, frequency, period) key stops a second one.
    """
    now = utcnow()
    pending = db.session.execute(
        select(DigestItem.user_id, DigestItem.frequency, func.min(DigestItem.created_at))
        .where(DigestItem.digest_id.is_(None))
        .group_by(DigestItem.user_id, DigestItem.frequency)
    ).all()
    db.session.commit()
    sent = 0
    for user_id, frequency, oldest in pending:
        user = db.session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            continue
        start, period = digest_period(now, user.timezone, frequency)
        if oldest.replace(tzinfo=oldest.tzinfo or UTC) >= start:
            continue
        try:
            sent += _send_digest(user, frequency, start, period)
        except IntegrityError:
            db.session.rollback()  # another beat sent this period's digest first
    return sent


def _send_digest(user: User, frequency: str, start: datetime, period: str) -> int:
    digest = Digest(user_id=user.id, frequency=frequency, period=period, created_at=utcnow())
    db.session.add(digest)
    db.session.flush()
    items = list(
        db.session.execute(
            select(DigestItem)
            .where(
                DigestItem.user_id == user.id,
                DigestItem.frequency == frequency,
                DigestItem.digest_id.is_(None),
                DigestItem.created_at < start,
            )
            .order_by(DigestItem.created_at, DigestItem.id)
            .with_for_update()
        ).scalars()
    )
    if not items:
        db.session.rollback()
        return 0
    for item in items:
        item.digest_id = digest.id
    digest.item_count = len(items)
    categories = sorted({item.category for item in items})
    grouped = [
        {
            "label": str(CATEGORY_LABELS[Category(category)]),
            "items": [
                {
                    "title": item.title,
                    "body": item.body,
                    "url": current_app.config["BASE_URL"] + item.link if item.link else "",
                    "created_at": item.created_at,
                }
                for item in items
                if item.category == category
            ],
        }
        for category in categories
    ]
    subject = (
        _l("Tu resumen diario de Promueve: %(n)s avisos", n=len(items))
        if frequency == Channel.daily
        else _l("Tu resumen semanal de Promueve: %(n)s avisos", n=len(items))
    )
    row = _add_email(
        to=user,
        kind=f"digest.{frequency}",
        subject=subject,
        template="notifications/email/digest",
        dedupe_key=f"digest:{user.id}:{frequency}:{period}",
        context={
            "groups": grouped,
            "frequency": frequency,
            "count": len(items),
            "center_url": external_url("notifications.inbox"),
        },
        locale=None,
        timezone=None,
        category=DIGEST_CATEGORY,
        unsubscribe_categories=categories,
    )
    digest.notification = row
    db.session.commit()
    return 1
