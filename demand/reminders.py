"""First-answer deadlines on the notifications ledger (rows with fire_at, not Celery ETAs).

The institution's liaisons and staff get a reminder halfway to the deadline and one
working day before it; the day after, an overdue item escalates to them and to platform
admins. The checksum is the due date, so moving a deadline moves every reminder, and a
renderer skips a row whose item was answered, merged or moved in the meantime.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import LazyString
from flask_babel import gettext as _
from sqlalchemy import select

from core.choices import InstitutionRole
from core.extensions import db
from core.i18n import format_day
from core.models import Membership, User
from core.urls import external_url
from demand.deadlines import add_working_days, extra_non_working_days, is_working_day, working_days_between
from demand.models import DemandItem, DemandStatus
from notifications.models import Category, ScheduledNotification
from notifications.services import RenderedReminder, cancel_scheduled, register_renderer, schedule

DEADLINE_KIND = "demand.deadline"
REMINDER_HOUR = 9
OPEN_STATUSES = (DemandStatus.received, DemandStatus.under_review)


def subject_of(item: DemandItem | int) -> str:
    """The ledger subject of an item's rows."""
    return f"demand:{item if isinstance(item, int) else item.id}"


def _item_id(row: ScheduledNotification) -> int | None:
    prefix, _sep, value = row.subject.partition(":")
    return int(value) if prefix == "demand" and value.isdigit() else None


def checksum(item: DemandItem, offset: str) -> str:
    """What a reminder is about: the due date it counts towards."""
    return hashlib.sha256(f"{offset}\x1f{item.due_on.isoformat()}".encode()).hexdigest()


def previous_working_day(day: date) -> date:
    """The last working day before `day`."""
    import holidays

    start = day - timedelta(days=30)
    extra = extra_non_working_days(start, day)
    federal = holidays.country_holidays("MX", years=range(start.year, day.year + 1))
    current = day - timedelta(days=1)
    while not is_working_day(current, extra, federal):
        current -= timedelta(days=1)
    return current


def _at_morning(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(REMINDER_HOUR), tzinfo=ZoneInfo(zone))


def reminder_dates(item: DemandItem, received_on: date) -> dict[str, date]:
    """When each reminder of an item fires: halfway, the working day before, the day after."""
    dates = {"day_before": previous_working_day(item.due_on), "overdue": item.due_on + timedelta(days=1)}
    span = working_days_between(received_on, item.due_on)
    if span >= 4:
        dates["halfway"] = add_working_days(received_on, span // 2)
    return dates


def institution_people(institution_id: int) -> list[User]:
    """The institution's liaisons and staff (who answer its demand)."""
    return list(
        db.session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.institution_id == institution_id,
                Membership.role.in_([InstitutionRole.liaison, InstitutionRole.staff]),
                User.deleted_at.is_(None),
            )
            .order_by(User.id)
        ).scalars()
    )


def platform_admins() -> list[User]:
    """Every active platform admin."""
    return list(
        db.session.execute(
            select(User).where(User.is_admin.is_(True), User.deleted_at.is_(None)).order_by(User.id)
        ).scalars()
    )


def sync_deadline(item: DemandItem) -> int:
    """Schedule (or move) the deadline reminders of an item waiting for its first answer.

    Inside the caller's transaction. Rows whose moment has passed are not added (an item
    created late, or a deadline moved into the past, escalates at once instead).
    """
    if item.status not in OPEN_STATUSES:
        cancel_deadline(item)
        return 0
    institution = item.institution
    received_on = item.created_at.astimezone(ZoneInfo(institution.timezone)).date()
    dates = reminder_dates(item, received_on)
    now = datetime.now(tz=ZoneInfo("UTC"))
    people = institution_people(item.institution_id)
    admins = platform_admins()
    count = 0
    for offset, day in dates.items():
        fire_at = _at_morning(day, institution.timezone)
        if offset != "overdue" and fire_at <= now:
            continue
        recipients = (
            people + [a for a in admins if a.id not in {p.id for p in people}]
            if offset == "overdue"
            else people
        )
        for person in recipients:
            schedule(
                kind=DEADLINE_KIND,
                subject=subject_of(item),
                recipient=person,
                fire_at=max(fire_at, now),
                offset_key=offset,
                checksum=checksum(item, offset),
                category=Category.institution,
            )
            count += 1
    return count


def cancel_deadline(item: DemandItem) -> None:
    """The item got its first answer (or was merged): stop reminding."""
    cancel_scheduled(subject=subject_of(item), kind=DEADLINE_KIND)


def _lazy(func) -> LazyString:
    return LazyString(func)


def render_deadline(row: ScheduledNotification) -> RenderedReminder | None:
    """A liaison's reminder or an escalation, while the item still waits with the same date."""
    item_id = _item_id(row)
    item = db.session.get(DemandItem, item_id) if item_id else None
    if item is None or item.status not in OPEN_STATUSES:
        return RenderedReminder.skip("answered, merged or deleted")
    if row.checksum != checksum(item, row.offset_key):
        return RenderedReminder.skip("outdated version")
    title, due_on, offset = item.title, item.due_on, row.offset_key
    institution = item.institution
    if offset == "overdue":
        subject = _lazy(lambda: _("Solicitud vencida sin respuesta: «%(title)s»", title=title))
    elif offset == "day_before":
        subject = _lazy(lambda: _("Mañana vence la respuesta a «%(title)s»", title=title))
    else:
        subject = _lazy(lambda: _("A mitad del plazo: «%(title)s»", title=title))
    return RenderedReminder(
        subject=subject,
        template="demand/email/deadline",
        context={
            "item_title": title,
            "due_on": due_on.isoformat(),
            "offset": offset,
            "institution_name": institution.display_name,
            "supporters": item.supporters_count,
            "item_url": external_url("demand.detail", item_id=item.id),
        },
        link=f"/demand/{item.id}",
        summary=_lazy(lambda: _("Fecha límite: %(date)s", date=format_day(due_on))),
    )


register_renderer(DEADLINE_KIND, render_deadline)
