"""The reminder ledger: rows with `fire_at` scheduled by the domains, turned into outbox rows
by their registered renderers when due (beat dispatch, batches, one transaction a slice)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from notifications.models import (
    Category,
    DigestItem,
    InAppNotification,
    Notification,
    NotificationStatus,
    ScheduledNotification,
    ScheduledStatus,
)
from notifications.services.outbox import _prefetch_absent_keys, _route, rows_in_bulk
from notifications.services.preferences import _prefetch_delivery_state
from notifications.services.rendering import _RENDER_MEMO_KEY

log = logging.getLogger(__name__)


FIRE_TASK = "notifications.fire_reminders"
MAX_RENDER_ATTEMPTS = 3


@dataclass
class RenderedReminder:
    """What a renderer wants sent for a due ledger row.

    `subject` (a lazy string), `template` and `context` become the email; `link` and
    `summary` the in-app entry and digest line. `useful=False` (or a renderer that
    returns None) records the row as skipped with `skip_reason`.
    """

    subject: Any = ""
    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    useful: bool = True
    skip_reason: str = ""
    link: str | None = None
    summary: Any = None
    # Files for the email (same shape as `notify(attachments=…)`), e.g. the event's .ics.
    attachments: list[dict[str, str]] | None = None

    @classmethod
    def skip(cls, reason: str) -> RenderedReminder:
        """A row that is no longer worth sending (e.g. the event already started)."""
        return cls(useful=False, skip_reason=reason)


Renderer = Callable[[ScheduledNotification], RenderedReminder | None]
_RENDERERS: dict[str, Renderer] = {}


def register_renderer(kind: str, renderer: Renderer) -> None:
    """Say how to turn due ledger rows of `kind` into a message (domains, at import)."""
    _RENDERERS[kind] = renderer


def schedule(
    *,
    kind: str,
    subject: str,
    recipient: User,
    fire_at: datetime,
    offset_key: str,
    checksum: str,
    category: str,
    expires_at: datetime | None = None,
) -> ScheduledNotification:
    """Schedule (or reschedule) one notification, inside the caller's transaction.

    Upsert by (kind, subject, recipient, offset_key). A different checksum supersedes
    the old row: it returns to pending with the new `fire_at` (an unsent outbox message
    of the old version is withheld). The same checksum changes nothing, except that a
    cancelled row comes back. `subject` is a reference such as "event:42"; a row found
    after `expires_at` is skipped as too late without calling the renderer.
    """
    category = Category(category)
    if fire_at.tzinfo is None or (expires_at is not None and expires_at.tzinfo is None):
        raise ValueError("fire_at and expires_at must be aware datetimes")
    key = (
        ScheduledNotification.kind == kind,
        ScheduledNotification.subject == subject,
        ScheduledNotification.recipient_id == recipient.id,
        ScheduledNotification.offset_key == offset_key,
    )
    row = db.session.execute(select(ScheduledNotification).where(*key)).scalar_one_or_none()
    now = utcnow()
    if row is None:
        row = ScheduledNotification(
            kind=kind,
            subject=subject,
            recipient_id=recipient.id,
            offset_key=offset_key,
            category=category,
            fire_at=fire_at,
            checksum=checksum,
            expires_at=expires_at,
            status=ScheduledStatus.pending,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            # Someone scheduled the same key at the same moment: update theirs.
            row = db.session.execute(select(ScheduledNotification).where(*key)).scalar_one()
        else:
            return row
    if row.checksum == checksum and row.status != ScheduledStatus.cancelled:
        return row
    if row.notification_id is not None and row.checksum != checksum:
        _withhold_unsent([row.notification_id], "superseded by a newer version")
    row.notification = None
    row.checksum = checksum
    row.fire_at = fire_at
    row.expires_at = expires_at
    row.category = category
    row.status = ScheduledStatus.pending
    row.outcome = row.skip_reason = row.last_error = None
    row.attempts = 0
    row.dispatched_at = row.sent_at = None
    row.notification_id = None
    row.updated_at = now
    return row


def schedule_many(
    *,
    kind: str,
    subject: str,
    recipient: User,
    rows: list[tuple[datetime, str, str]],
    category: str,
    expires_at: datetime | None = None,
) -> int:
    """Schedule several rows of one recipient and subject in one statement, inside the
    caller's transaction; `rows` are (fire_at, offset_key, checksum). The rules of
    `schedule`, as one bulk `INSERT … ON CONFLICT`: a new key is inserted; a different
    checksum (or a cancelled row) returns the row to pending with the new values, and an
    unsent outbox message of its old version is withheld; the same checksum changes nothing.
    """
    if not rows:
        return 0
    category = Category(category)
    if any(fire_at.tzinfo is None for fire_at, _, _ in rows) or (
        expires_at is not None and expires_at.tzinfo is None
    ):
        raise ValueError("fire_at and expires_at must be aware datetimes")
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    statements = _schedule_many_statements(dialect, len(rows))
    params: dict[str, Any] = {
        "sm_kind": kind,
        "sm_subject": subject,
        "sm_recipient_id": recipient.id,
        "sm_category": str(category),
        "sm_expires_at": expires_at,
        "sm_now": now,
    }
    for index, (fire_at, offset_key, checksum) in enumerate(rows):
        params[f"sm_fire_at_{index}"] = fire_at
        params[f"sm_offset_key_{index}"] = offset_key
        params[f"sm_checksum_{index}"] = checksum
    for statement, constants in statements:
        db.session.execute(statement, {**constants, **params})
    return len(rows)


@lru_cache(maxsize=32)
def _schedule_many_statements(dialect: str, count: int) -> tuple[tuple[Any, dict[str, Any]], ...]:
    """The statements of `schedule_many` for `count` rows, built and compiled once per
    dialect and row count with named parameters: building and compiling a fresh multi-row
    upsert on every call was about a third of a registration's CPU."""
    table = ScheduledNotification.__table__

    def param(name: str, column: str):
        return bindparam(name, type_=table.c[column].type)

    kind, subject, recipient_id = (
        param("sm_kind", "kind"),
        param("sm_subject", "subject"),
        param("sm_recipient_id", "recipient_id"),
    )
    category, expires_at, now = (
        param("sm_category", "category"),
        param("sm_expires_at", "expires_at"),
        param("sm_now", "updated_at"),
    )
    keys = [param(f"sm_offset_key_{i}", "offset_key") for i in range(count)]
    checksums = [param(f"sm_checksum_{i}", "checksum") for i in range(count)]
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(
        [
            {
                "kind": kind,
                "subject": subject,
                "recipient_id": recipient_id,
                "offset_key": keys[i],
                "category": category,
                "fire_at": param(f"sm_fire_at_{i}", "fire_at"),
                "checksum": checksums[i],
                "expires_at": expires_at,
                "status": ScheduledStatus.pending,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
    )
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.kind, table.c.subject, table.c.recipient_id, table.c.offset_key],
        set_={
            "checksum": new.checksum,
            "fire_at": new.fire_at,
            "expires_at": new.expires_at,
            "category": new.category,
            "status": ScheduledStatus.pending,
            "outcome": None,
            "skip_reason": None,
            "last_error": None,
            "attempts": 0,
            "dispatched_at": None,
            "sent_at": None,
            "notification_id": None,
            "updated_at": now,
        },
        where=or_(table.c.checksum != new.checksum, table.c.status == ScheduledStatus.cancelled),
    )
    # The old versions' messages handed to the outbox but not sent yet are withheld, as
    # `schedule` does one row at a time.
    superseded = select(table.c.notification_id).where(
        table.c.kind == kind,
        table.c.subject == subject,
        table.c.recipient_id == recipient_id,
        table.c.notification_id.is_not(None),
        or_(*[and_(table.c.offset_key == keys[i], table.c.checksum != checksums[i]) for i in range(count)]),
    )
    withhold = (
        update(Notification)
        .where(Notification.id.in_(superseded), Notification.status == NotificationStatus.queued)
        .values(status=NotificationStatus.withheld, last_error="superseded by a newer version")
    )
    if dialect == "postgresql":
        # One round trip: the withholding rides along as a data-modifying CTE, which sees
        # the ledger as it was before the upsert.
        return (_as_text(statement.add_cte(withhold.returning(Notification.id).cte("withheld")), dialect),)
    return (_as_text(withhold, dialect), _as_text(statement, dialect))


def _as_text(statement, dialect: str) -> tuple[Any, dict[str, Any]]:
    """`statement` compiled once for `dialect`, as a `text()` with the same typed parameters
    (SQLAlchemy does not cache the compiled form of a multi-row INSERT), and the values of
    its constant parameters."""
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql.base import PGDialect
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    # The base dialects: named parameters, and no `::type` casts (which text() would misread).
    named = (PGDialect if dialect == "postgresql" else SQLiteDialect)(paramstyle="named")
    compiled = statement.compile(dialect=named)
    binds = {name: bind for bind, name in compiled.bind_names.items()}
    typed = text(compiled.string).bindparams(
        *[bindparam(name, type_=bind.type) for name, bind in binds.items()]
    )
    constants = {name: bind.effective_value for name, bind in binds.items() if not name.startswith("sm_")}
    return typed, constants


def cancel_scheduled(*, subject: str, kind: str | None = None, recipient_id: int | None = None) -> int:
    """Cancel the pending rows of a subject (optionally one kind / one recipient).

    Inside the caller's transaction. Messages already handed to the outbox but not yet
    sent are withheld. Returns how many rows were cancelled.
    """
    conditions = [ScheduledNotification.subject == subject]
    if kind is not None:
        conditions.append(ScheduledNotification.kind == kind)
    if recipient_id is not None:
        conditions.append(ScheduledNotification.recipient_id == recipient_id)
    handed_off = list(
        db.session.execute(
            select(ScheduledNotification.id, ScheduledNotification.notification_id).where(
                *conditions,
                ScheduledNotification.status == ScheduledStatus.sent,
                ScheduledNotification.notification_id.is_not(None),
            )
        )
    )
    withheld = _withhold_unsent([n for _, n in handed_off], "cancelled")
    cancel_ids = [row_id for row_id, notification_id in handed_off if notification_id in withheld]
    now = utcnow()
    count = db.session.execute(
        update(ScheduledNotification)
        .where(
            *conditions,
            or_(
                ScheduledNotification.status == ScheduledStatus.pending,
                ScheduledNotification.id.in_(cancel_ids),
            ),
        )
        .values(status=ScheduledStatus.cancelled, updated_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    return count


def _withhold_unsent(notification_ids: list[int], reason: str) -> set[int]:
    if not notification_ids:
        return set()
    queued = set(
        db.session.execute(
            select(Notification.id).where(
                Notification.id.in_(notification_ids), Notification.status == NotificationStatus.queued
            )
        ).scalars()
    )
    if queued:
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(queued), Notification.status == NotificationStatus.queued)
            .values(status=NotificationStatus.withheld, last_error=reason)
            .execution_options(synchronize_session="fetch")
        )
    return queued


def dispatch_due_reminders() -> int:
    """Beat, every minute: hand due ledger rows to `fire_reminders` tasks in batches.

    Rows are marked dispatched first; a batch that dies is re-dispatched once it has
    been stuck REMINDER_STUCK_AFTER_SECONDS (and the outbox keys stop a second send).
    """
    now = utcnow()
    stuck_before = now - timedelta(seconds=current_app.config["REMINDER_STUCK_AFTER_SECONDS"])
    ids = list(
        db.session.execute(
            select(ScheduledNotification.id)
            .where(
                ScheduledNotification.status == ScheduledStatus.pending,
                ScheduledNotification.fire_at <= now,
                or_(
                    ScheduledNotification.dispatched_at.is_(None),
                    ScheduledNotification.dispatched_at < stuck_before,
                ),
            )
            .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
            .limit(100_000)
        ).scalars()
    )
    size = max(1, current_app.config["REMINDER_BATCH_SIZE"])
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    for batch in batches:
        db.session.execute(
            update(ScheduledNotification)
            .where(ScheduledNotification.id.in_(batch))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    celery = current_app.extensions.get("celery")
    for batch in batches:
        try:
            celery.send_task(FIRE_TASK, args=[batch], retry=False)
        except Exception:  # noqa: BLE001 - broker down: re-dispatched once stuck
            log.warning("could not publish a reminder batch of %s rows; retried later", len(batch))
    return len(ids)


def fire_due_reminders(*, limit: int | None = None) -> dict[str, int]:
    """Turn every due ledger row into messages now, in this process (CLI, tests)."""
    totals: dict[str, int] = defaultdict(int)
    size = limit or current_app.config["REMINDER_BATCH_SIZE"]
    while True:
        counts = fire_reminders(None, limit=size)
        for key, value in counts.items():
            totals[key] += value
        if sum(counts.values()) < size:
            return dict(totals)


def fire_reminders(ids: list[int] | None, *, limit: int | None = None) -> dict[str, int]:
    """Turn due pending ledger rows (these ids, or the oldest due) into messages.

    Rows go in slices of REMINDER_COMMIT_SIZE, each one transaction: its outbox rows
    and the ledger's new states commit together, so a worker dying mid-way leaves the
    rest pending and sends nothing twice; a committed slice starts sending while the
    next renders. Rows locked by another batch are skipped (PostgreSQL SKIP LOCKED).
    Should any row raise, its slice is redone row by row in SAVEPOINTs and the culprit
    recorded.
    """
    now = utcnow()
    if ids is None:
        ids = list(
            db.session.execute(
                select(ScheduledNotification.id)
                .where(
                    ScheduledNotification.status == ScheduledStatus.pending,
                    ScheduledNotification.fire_at <= now,
                )
                .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
                .limit(limit or current_app.config["REMINDER_BATCH_SIZE"])
            ).scalars()
        )
    size = max(1, current_app.config["REMINDER_COMMIT_SIZE"])
    totals: dict[str, int] = defaultdict(int)
    db.session.info[_RENDER_MEMO_KEY] = {}
    try:
        for start in range(0, len(ids), size):
            for key, value in _fire_slice(ids[start : start + size], now).items():
                totals[key] += value
        db.session.commit()
    finally:
        db.session.info.pop(_RENDER_MEMO_KEY, None)
    return dict(totals)


def _fire_slice(ids: list[int], now: datetime) -> dict[str, int]:
    rows = _lock_due_rows(ids, None, now)
    if not rows:
        db.session.commit()
        return {}
    try:
        counts = _fire_batch(rows, now, careful=False)
        db.session.commit()
    except Exception:
        log.warning("a reminder slice failed; redoing it row by row", exc_info=True)
        db.session.rollback()
        rows = _lock_due_rows(ids, None, now)
        counts = _fire_batch(rows, now, careful=True)
        db.session.commit()
    return counts


def _lock_due_rows(ids: list[int] | None, limit: int | None, now: datetime) -> list[ScheduledNotification]:
    query = (
        select(ScheduledNotification)
        .options(joinedload(ScheduledNotification.recipient, innerjoin=True))
        .where(ScheduledNotification.status == ScheduledStatus.pending, ScheduledNotification.fire_at <= now)
        .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
        .with_for_update(skip_locked=True, of=ScheduledNotification)
    )
    if ids is not None:
        query = query.where(ScheduledNotification.id.in_(ids))
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).scalars().unique())


def _fire_batch(rows: list[ScheduledNotification], now: datetime, *, careful: bool) -> dict[str, int]:
    _prefetch_delivery_state(row.recipient for row in rows)
    keys = [row.dedupe_key for row in rows]
    _prefetch_absent_keys(Notification, keys)
    _prefetch_absent_keys(InAppNotification, [f"inapp:{key}" for key in keys])
    _prefetch_absent_keys(DigestItem, keys)
    counts: dict[str, int] = defaultdict(int)
    if careful:
        for row in rows:
            counts[_fire_one_carefully(row, now)] += 1
        return dict(counts)
    # The fast way: new rows go in a few bulk INSERTs and the ledger in one UPDATE.
    updates = []
    with rows_in_bulk() as outbox_ids:
        for row in rows:
            outcome, values = _fire_one(row, now)
            counts[outcome] += 1
            updates.append((row.id, values))
    table = ScheduledNotification.__table__
    params = []
    for row_id, values in updates:
        notification = values.get("notification")
        notification_id = None
        if notification is not None:
            notification_id = outbox_ids.get(notification.dedupe_key) or notification.id
        params.append(
            {
                "b_id": row_id,
                "b_status": values["status"],
                "b_outcome": values.get("outcome"),
                "b_skip_reason": values.get("skip_reason"),
                "b_notification_id": notification_id,
                "b_sent_at": values.get("sent_at"),
                "b_updated_at": now,
            }
        )
    db.session.connection().execute(
        table.update()
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            outcome=bindparam("b_outcome"),
            skip_reason=bindparam("b_skip_reason"),
            notification_id=bindparam("b_notification_id"),
            sent_at=bindparam("b_sent_at"),
            updated_at=bindparam("b_updated_at"),
        ),
        params,
    )
    return dict(counts)


def _fire_one(row: ScheduledNotification, now: datetime) -> tuple[str, dict[str, Any]]:
    """What becomes of one due row: its counter and the ledger's new values."""
    recipient = row.recipient
    if recipient.deleted_at is not None:
        return _skipped("recipient account deleted")
    if row.expires_at is not None and now >= row.expires_at:
        return _skipped("too late: past its useful time")
    renderer = _RENDERERS.get(row.kind)
    if renderer is None:
        raise LookupError(f"no renderer registered for {row.kind!r}")
    rendered = renderer(row)
    if rendered is None or not rendered.useful:
        return _skipped((rendered.skip_reason if rendered else "") or "no longer useful")
    notification, outcome = _route(
        to=recipient,
        kind=row.kind,
        subject=rendered.subject,
        template=rendered.template,
        dedupe_key=row.dedupe_key,
        context=rendered.context,
        locale=None,
        timezone=None,
        category=row.category,
        link=rendered.link,
        summary=rendered.summary,
        in_app=None,
        attachments=rendered.attachments,
    )
    return "sent", {
        "status": ScheduledStatus.sent,
        "outcome": outcome,
        "notification": notification,
        "sent_at": now,
    }


def _skipped(reason: str) -> tuple[str, dict[str, Any]]:
    return "skipped", {"status": ScheduledStatus.skipped, "skip_reason": reason[:300]}


def _fire_one_carefully(row: ScheduledNotification, now: datetime) -> str:
    try:
        with db.session.begin_nested():
            outcome, values = _fire_one(row, now)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            return outcome
    except Exception as exc:
        log.exception("reminder %s (%s) could not be rendered", row.id, row.kind)
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.updated_at = now
        if row.attempts >= MAX_RENDER_ATTEMPTS:
            row.status = ScheduledStatus.failed
            return "failed"
        row.dispatched_at = None  # try again at the next beat
        return "error"


def scheduled_for(subject: str) -> list[ScheduledNotification]:
    """The ledger rows of a subject (for domain pages and tests)."""
    return list(
        db.session.execute(
            select(ScheduledNotification)
            .where(ScheduledNotification.subject == subject)
            .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
        ).scalars()
    )


def ledger_summary() -> dict[str, int]:
    """Ledger rows per status (admin page)."""
    counts = dict(
        db.session.execute(
            select(ScheduledNotification.status, func.count()).group_by(ScheduledNotification.status)
        ).all()
    )
    return {str(status): counts.get(status, 0) for status in ScheduledStatus}
