"""Getting outbox rows out: enqueue after commit, claim, pace, send at most once, retry
with backoff, count bounces, and sweep what got stuck.

Domains never call this module; `notifications.services` is the public face.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Iterable
from datetime import timedelta
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any

import redis
from flask import current_app
from markupsafe import escape
from sqlalchemy import bindparam, delete, event, inspect, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.celery_app import publish
from core.extensions import db
from core.redis_client import get_redis
from core.timeutil import utcnow
from core.validation import one_line
from notifications import mime
from notifications.mime import OutgoingMessage
from notifications.models import MailboxHealth, Notification, NotificationStatus
from notifications.transport import DeliveryError, FileSession, SmtpSession, open_session

log = logging.getLogger(__name__)

SEND_TASK = "notifications.send_notification"
SEND_BATCH_TASK = "notifications.send_notifications"
_PENDING_KEY = "promueve_outbox_pending"
# Retries this short ride on the task queue (countdown); longer ones wait for the
# sweeper, so no ETA outlives the broker's visibility timeout.
SHORT_RETRY_SECONDS = 300
RATE_KEY = "promueve:mail-rate:next-slot"


# --- enqueueing ---------------------------------------------------------------


def make_message_id(row: Notification) -> str:
    """A Message-ID fixed per row (from its unique dedupe key), so a re-sent message is
    recognisably the same; known before the row is even flushed."""
    domain = _sender(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "promueve"
    digest = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:24]
    return f"<promueve.{digest}@{domain}>"


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[str, str]:
    """(From header, envelope address) of MAIL_FROM, parsed once."""
    name, address = parseaddr(mail_from)
    return mime.address(name, address), address


def remember_for_enqueue(row: Notification | int) -> None:
    """Publish the send task for this row once the current transaction commits."""
    db.session.info.setdefault(_PENDING_KEY, []).append(row)


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def enqueue(notification_ids: list[int], *, batch: bool = True) -> None:
    """Publish send tasks (one per row, or batches sharing an SMTP connection).

    A failure is logged and left to the sweeper; an unreachable broker fails at once.
    """
    celery = current_app.extensions.get("celery")
    if celery is None or not notification_ids:
        return
    size = max(1, current_app.config["MAIL_BATCH_SIZE"]) if batch else 1
    for chunk in _chunks(list(notification_ids), size):
        task, args = (SEND_TASK, [chunk[0]]) if len(chunk) == 1 else (SEND_BATCH_TASK, [chunk])
        try:
            publish(task, args)
        except Exception:  # noqa: BLE001 - broker down: the sweeper re-queues them later
            log.warning("could not enqueue notifications %s; the sweeper will", chunk)


CACHE_KEYS = [_PENDING_KEY]


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    # A released SAVEPOINT also fires after_commit: publish only when the real
    # transaction commits, or a worker could look for rows it cannot see yet.
    if session.get_nested_transaction() is not None:
        return
    pending = session.info.pop(_PENDING_KEY, None)
    for key in CACHE_KEYS:
        session.info.pop(key, None)
    if pending:
        ids = []
        for item in pending:
            if isinstance(item, int):
                ids.append(item)
            else:
                # Rows added in a SAVEPOINT that was rolled back never got an identity.
                identity = inspect(item).identity
                if identity:
                    ids.append(identity[0])
        enqueue(ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    # A SAVEPOINT rolled back keeps the list: ids it removed are skipped harmlessly.
    if session.get_nested_transaction() is not None:
        return
    for key in CACHE_KEYS:
        session.info.pop(key, None)


# --- building and pacing -------------------------------------------------------


def build_message(row: Any) -> OutgoingMessage:
    """The MIME message of an outbox row: text and HTML alternatives in UTF-8, with its
    attachments; `row` is a Notification or a result row with the same columns."""
    from_header, sender = _sender(current_app.config["MAIL_FROM"])
    headers = [
        ("From", from_header),
        # One line whatever was stored: a line break would fail the message for good.
        ("To", mime.address(one_line(row.to_name), row.to_email)),
        ("Subject", mime.encoded_words(one_line(row.subject))),
        ("Date", format_datetime(row.created_at)),
        ("Message-ID", mime.check_header_value(row.message_id or make_message_id(row))),
        ("Content-Language", row.locale.replace("_", "-")),
        ("X-Promueve-Kind", mime.check_header_value(row.kind)),
        ("Auto-Submitted", "auto-generated"),
    ]
    if row.category is not None and row.unsubscribe_url:
        # RFC 8058: one POST to this address unsubscribes, no login, no confirmation page.
        headers.append(("List-Unsubscribe", f"<{mime.check_header_value(row.unsubscribe_url)}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    data = mime.write_message(
        headers,
        text=row.body_text,
        html=row.body_html,
        attachments=row.attachments,
        # Without SMTP the message becomes a file for a developer to read: plain 8bit text.
        eight_bit=not current_app.config.get("SMTP_URL"),
    )
    return OutgoingMessage(sender=sender, recipient=row.to_email, data=data)


_RATE_SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local interval = tonumber(ARGV[1])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(t, next_free)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot + interval - t) * 1000) + 60000)
return tostring(slot - t)
"""


def wait_for_send_slot() -> float:
    """Pace sending to MAIL_RATE_PER_MINUTE across every worker; returns seconds waited.

    Each message reserves the next free slot in Redis (Redis' clock, so hosts agree);
    with one task per worker process at a time, a wait never exceeds a few intervals.
    """
    rate = current_app.config["MAIL_RATE_PER_MINUTE"]
    if rate <= 0:
        return 0.0
    try:
        wait = float(get_redis().eval(_RATE_SCRIPT, 1, RATE_KEY, repr(60.0 / rate)))
    except redis.RedisError as exc:
        # The limiter protects the relay; losing Redis should not stop mail altogether.
        log.warning("mail rate limiter unavailable (%s); sending unpaced", exc)
        return 0.0
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: half the nominal delay plus a random half."""
    config = current_app.config
    nominal = min(config["MAIL_RETRY_MAX_SECONDS"], config["MAIL_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1))
    return nominal / 2 + random.uniform(0, nominal / 2)


# --- sending -------------------------------------------------------------------


def send_notification(notification_id: int) -> tuple[str, float | None]:
    """Deliver one outbox row at most once; returns (outcome, retry delay)."""
    [(_id, outcome, delay)] = send_notifications([notification_id])
    return outcome, delay


def send_notifications(notification_ids: list[int]) -> list[tuple[int, str, float | None]]:
    """Deliver several rows over one connection; returns (id, outcome, retry delay) each.

    Rows are claimed a chunk at a time with one conditional UPDATE (the lock: only
    one worker moves a row from queued to sending) and each is marked sent right after
    the server accepts it, so a worker killed mid-batch can at worst repeat the one
    message whose acceptance raced the kill; the rest of its chunk waits for the sweeper.
    """
    results: list[tuple[int, str, float | None]] = []
    # End whatever the session holds (on SQLite an open transaction is the write lock),
    # then use one connection for the whole batch (no pool round trip per status change).
    db.session.commit()
    with open_session() as session, db.engine.connect() as connection:
        relaxed = _relax_commits(connection)
        try:
            budget = current_app.config["OUTBOX_STUCK_AFTER_SECONDS"] / 4
            for chunk in _chunks(list(notification_ids), _claim_size()):
                claimed = _claim(connection, chunk)
                started = time.monotonic()
                for position, notification_id in enumerate(chunk):
                    row = claimed.get(notification_id)
                    if row is None:
                        results.append((notification_id, "skipped", None))
                        continue
                    outcome, delay = _deliver_claimed(connection, row, session)
                    results.append((notification_id, outcome, delay))
                    rest = [i for i in chunk[position + 1 :] if i in claimed]
                    failing = outcome == "retry" and session.lost_connection
                    if rest and (failing or time.monotonic() - started > budget):
                        # The server is unreachable, or slow enough that the claim would
                        # soon look stuck: hand the rest back rather than hold it.
                        delay = delay if failing else 0.0
                        _release(connection, rest, delay)
                        results.extend((i, "retry", delay) for i in rest)
                        break
        finally:
            if relaxed:
                # The connection goes back to the pool: leave it as it was.
                connection.commit()
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql("RESET synchronous_commit")
                    connection.commit()
                else:
                    connection.connection.driver_connection.execute("PRAGMA synchronous = FULL")
    return results


def _release(connection, notification_ids: list[int], delay: float) -> None:
    """Put claimed rows that were not tried back in the queue, due after `delay`."""
    due = utcnow() + timedelta(seconds=delay) if delay else None
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.id.in_(notification_ids), _TABLE.c.status == NotificationStatus.sending)
        .values(
            status=NotificationStatus.queued,
            attempts=_TABLE.c.attempts - 1,
            claimed_at=None,
            next_attempt_at=due,
            enqueued_at=due or utcnow(),
        )
    )
    connection.commit()


def _claim_size() -> int:
    """How many rows to claim at once: a claimed row waiting for its pacing slot must
    never look stuck to the sweeper."""
    size = max(1, current_app.config["MAIL_BATCH_SIZE"])
    rate = current_app.config["MAIL_RATE_PER_MINUTE"]
    if rate > 0:
        budget = current_app.config["OUTBOX_STUCK_AFTER_SECONDS"] / 4
        size = max(1, min(size, int(budget * rate / 60)))
    return size


def _relax_commits(connection) -> bool:
    """Status bookkeeping needs no fsync wait (PostgreSQL): a worker that dies loses
    nothing, the database has it; only a crash of the database itself could forget the
    last instants' marks, and then a message would be sent again, never lost."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET synchronous_commit TO OFF")
        connection.commit()
        return True
    if connection.dialect.name == "sqlite":
        # WAL without an fsync per commit: safe against a crashed process, not power loss.
        # Outside any transaction (SQLite refuses it inside one).
        connection.connection.driver_connection.execute("PRAGMA synchronous = NORMAL")
        return True
    return False


_TABLE = Notification.__table__
_SEND_COLUMNS = [
    _TABLE.c[name]
    for name in (
        "id",
        "to_email",
        "to_name",
        "kind",
        "category",
        "locale",
        "subject",
        "body_text",
        "body_html",
        "unsubscribe_url",
        "dedupe_key",
        "message_id",
        "created_at",
        "attempts",
        "attachments",
        "secret_values",
        "user_id",
        "render_refs",
    )
]


# Built once: the per-message statement costs a tenth of one built each time.
_MARK_SENT = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == NotificationStatus.sending)
    .values(status=NotificationStatus.sent, sent_at=bindparam("sent_at"), last_error=None)
)
# A message rendered at send time keeps what it sent (the admin page shows it).
_MARK_SENT_RENDERED = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == NotificationStatus.sending)
    .values(
        status=NotificationStatus.sent,
        sent_at=bindparam("sent_at"),
        last_error=None,
        subject=bindparam("r_subject"),
        body_text=bindparam("r_body_text"),
        body_html=bindparam("r_body_html"),
    )
)


def _claim(connection, chunk: list[int]) -> dict[int, Any]:
    now = utcnow()
    claimed = (
        connection.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id.in_(chunk),
                _TABLE.c.status == NotificationStatus.queued,
                or_(_TABLE.c.next_attempt_at.is_(None), _TABLE.c.next_attempt_at <= now),
            )
            .values(status=NotificationStatus.sending, claimed_at=now, attempts=_TABLE.c.attempts + 1)
            .returning(_TABLE.c.id)
        )
        .scalars()
        .all()
    )
    rows: dict[int, Any] = {}
    if claimed:
        health = MailboxHealth.__table__
        for row in connection.execute(
            select(*_SEND_COLUMNS, health.c.id.label("health_id"), health.c.undeliverable_since)
            .outerjoin_from(_TABLE, health, health.c.email == _TABLE.c.to_email)
            .where(_TABLE.c.id.in_(claimed))
        ):
            rows[row.id] = row
    # Commit the claim before talking to SMTP: no transaction (and, on SQLite, no write
    # lock) is held while a slow server answers or the pacer waits.
    connection.commit()
    return rows


def _deliver_claimed(connection, row: Any, session: SmtpSession | FileSession) -> tuple[str, float | None]:
    if row.undeliverable_since is not None and row.category is not None:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == row.id, _TABLE.c.status == NotificationStatus.sending)
            .values(status=NotificationStatus.withheld, last_error="address marked undeliverable")
        )
        connection.commit()
        return "withheld", None
    rendered = None
    if row.render_refs is not None:
        try:
            rendered = _render_now(row)
        except Exception as exc:
            # Like a temporary SMTP failure: retried with backoff, the error on the outbox page.
            log.exception("notification %s cannot be rendered", row.id)
            return _record_failure(
                row.id,
                row.to_email,
                row.attempts,
                DeliveryError(f"cannot render: {type(exc).__name__}: {exc}", permanent=False),
            )
        if rendered.skip_reason is not None:
            connection.execute(
                update(_TABLE)
                .where(_TABLE.c.id == row.id, _TABLE.c.status == NotificationStatus.sending)
                .values(status=NotificationStatus.withheld, last_error=rendered.skip_reason[:2000])
            )
            connection.commit()
            return "withheld", None
        row = _RenderedRow(row, rendered)
    try:
        message = build_message(row)
    except Exception as exc:
        log.exception("notification %s cannot be built", row.id)
        return _record_failure(
            row.id, row.to_email, row.attempts, DeliveryError(f"cannot build: {exc}", permanent=True)
        )
    wait_for_send_slot()
    try:
        session.send(message, f"{row.created_at:%Y%m%dT%H%M%S}-{row.id}")
    except DeliveryError as exc:
        return _record_failure(row.id, row.to_email, row.attempts, exc)
    except Exception as exc:
        log.exception("notification %s: unexpected delivery error", row.id)
        return _record_failure(
            row.id, row.to_email, row.attempts, DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)
        )
    if rendered is not None:
        connection.execute(
            _MARK_SENT_RENDERED,
            {
                "row_id": row.id,
                "sent_at": utcnow(),
                "r_subject": rendered.subject,
                "r_body_text": rendered.body_text,
                "r_body_html": rendered.body_html,
            },
        )
    else:
        connection.execute(_MARK_SENT, {"row_id": row.id, "sent_at": utcnow()})
    if row.secret_values:
        # Sent: the link tokens are no longer needed here, and must not stay readable.
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == row.id)
            .values(
                body_text=mask_secrets(row.body_text, row.secret_values),
                body_html=mask_secrets(row.body_html, row.secret_values),
                secret_values=None,
            )
        )
    if row.health_id is not None:
        # A delivery that works clears earlier bounces (unless already undeliverable).
        health = MailboxHealth.__table__
        connection.execute(
            delete(health).where(health.c.email == row.to_email, health.c.undeliverable_since.is_(None))
        )
    connection.commit()
    return "sent", None


def _render_now(row: Any):
    """Render a message kept as refs with what the database says now (its own short read)."""
    from notifications.deferred import render_stored

    try:
        return render_stored(row)
    finally:
        # End the read: the next message sees what is true when it is rendered.
        db.session.rollback()


class _RenderedRow:
    """An outbox row with the subject, bodies and attachments rendered just now."""

    def __init__(self, row: Any, rendered: Any):
        self._row = row
        self.subject = rendered.subject
        self.body_text = rendered.body_text
        self.body_html = rendered.body_html
        self.attachments = rendered.attachments

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def _record_failure(
    notification_id: int, to_email: str, attempts: int, exc: DeliveryError
) -> tuple[str, float | None]:
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
    if exc.bounce:
        record_bounce(to_email, str(exc))
    db.session.commit()
    return outcome


def record_bounce(email: str, error: str) -> None:
    """Count a permanent failure for an address; at the limit it becomes undeliverable."""
    now = utcnow()
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(MailboxHealth).values(
        email=email, permanent_failures=1, last_failure_at=now, last_error=error[:500]
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[MailboxHealth.email],
            set_={
                "permanent_failures": MailboxHealth.permanent_failures + 1,
                "last_failure_at": now,
                "last_error": error[:500],
            },
        )
    )
    db.session.execute(
        update(MailboxHealth)
        .where(
            MailboxHealth.email == email,
            MailboxHealth.undeliverable_since.is_(None),
            MailboxHealth.permanent_failures >= current_app.config["MAIL_BOUNCE_LIMIT"],
        )
        .values(undeliverable_since=now)
    )


# --- secrets --------------------------------------------------------------------

SECRET_MASK = "••••••"


def mask_secrets(value: str, secrets: Iterable[str]) -> str:
    """`value` with every occurrence of each secret (and its HTML-escaped form) masked."""
    for secret in sorted({str(s) for s in secrets if s and len(str(s)) >= 8}, key=len, reverse=True):
        value = value.replace(secret, SECRET_MASK)
        escaped = str(escape(secret))
        if escaped != secret:
            value = value.replace(escaped, SECRET_MASK)
    return value


# --- the sweeper ---------------------------------------------------------------


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
    for chunk in _chunks(list(due), 500):
        db.session.execute(update(Notification).where(Notification.id.in_(chunk)).values(enqueued_at=now))
    db.session.commit()
    enqueue(list(due), batch=False)
    return len(due)
