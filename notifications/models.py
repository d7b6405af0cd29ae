"""Notifications: the outbox, the reminder ledger, preferences, the in-app centre,
digests and the health of each mailbox."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import User
from core.timeutil import UTCDateTime, utcnow


class NotificationStatus(enum.StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    # Held back on purpose: by an operator, a superseded reminder, or an undeliverable address.
    withheld = "withheld"


class Category(enum.StrEnum):
    """What a non-transactional message is about; people choose a channel per category."""

    events = "events"
    surveys = "surveys"
    challenges = "challenges"
    answers = "answers"
    institution = "institution"
    # What an event's organisers write to the people registered (free text). A new time or
    # place and a cancellation are transactional instead: they arrive whatever is chosen here.
    event_messages = "event_messages"


class Channel(enum.StrEnum):
    """How a person wants to hear about one category."""

    email = "email"
    daily = "daily"
    weekly = "weekly"
    in_app = "in_app"
    off = "off"


class Notification(db.Model):
    """An email to one recipient, rendered in their locale, delivered at most once."""

    __table_args__ = (Index("ix_notification_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    to_email: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(64), index=True)
    # None: transactional (always sent, no unsubscribe headers).
    category: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # Files sent with the message: [{"filename", "content_type", "data" (base64),
    # optional "content_id" (inline, referenced from the HTML as cid:) and "method"
    # (iTIP, for text/calendar)}]. Added by the events migration (4b8d0f2c3e51).
    attachments: Mapped[list[dict] | None] = mapped_column(JSON)
    # Secret values inside the bodies (link tokens): masked on admin pages, and removed
    # from the bodies, with this list, when the message is sent (`delivery.mask_secrets`).
    secret_values: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    # Rendered at send time: what the kind's renderer needs ({"registration": 12, ...});
    # the subject and bodies are then written by the worker with what it sent. None: the
    # message was rendered when written (its content frozen then, e.g. a reset link).
    render_refs: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # RFC 8058 one-click target; empty for transactional mail.
    unsubscribe_url: Mapped[str] = mapped_column(String(1000), default="")
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[NotificationStatus] = mapped_column(String(16), default=NotificationStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_transactional(self) -> bool:
        """Transactional mail always goes out and never offers an unsubscribe."""
        return self.category is None


class ScheduledStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"  # handed over (outbox row, digest entry or in-app item, per preferences)
    skipped = "skipped"  # too late to be useful when found (event started, registration gone)
    cancelled = "cancelled"
    failed = "failed"  # the renderer kept raising


class ScheduledNotification(db.Model):
    """One row of the reminder ledger: tell `recipient` about `subject` at `fire_at`."""

    __tablename__ = "scheduled_notification"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "recipient_id", "offset_key"),
        Index("ix_scheduled_notification_status_fire_at", "status", "fire_at"),
        CheckConstraint("status IN ('pending', 'sent', 'skipped', 'cancelled', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    offset_key: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checksum: Mapped[str] = mapped_column(String(64))
    # Found after this moment, the row is skipped as too late without asking the renderer.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[ScheduledStatus] = mapped_column(String(16), default=ScheduledStatus.pending)
    # Where the row went when handled: email, daily, weekly, in_app, off, undeliverable.
    outcome: Mapped[str | None] = mapped_column(String(16))
    skip_reason: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recipient: Mapped[User] = relationship()
    notification: Mapped[Notification | None] = relationship()

    @property
    def dedupe_key(self) -> str:
        """The outbox key of this version of the row: a changed checksum sends again."""
        return f"sched:{self.id}:{self.checksum}"


class NotificationPreference(db.Model):
    """A person's channel for one category; no row means "email immediately"."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        UniqueConstraint("user_id", "category"),
        CheckConstraint("channel IN ('email', 'daily', 'weekly', 'in_app', 'off')", name="channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    channel: Mapped[Channel] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InAppNotification(db.Model):
    """An entry of a person's notification centre (the bell), kept 180 days."""

    __tablename__ = "in_app_notification"
    __table_args__ = (Index("ix_in_app_notification_user_unread", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(1000), default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Digest(db.Model):
    """One digest email per person, frequency and period: the unique key stops a second."""

    __table_args__ = (UniqueConstraint("user_id", "frequency", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    frequency: Mapped[str] = mapped_column(String(8))  # daily | weekly
    period: Mapped[str] = mapped_column(String(16))  # 2026-11-28 | 2026-W48, in the person's zone
    item_count: Mapped[int] = mapped_column(default=0)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    notification: Mapped[Notification | None] = relationship()


class DigestItem(db.Model):
    """A message waiting for the person's next digest (rendered in their language)."""

    __tablename__ = "digest_item"
    __table_args__ = (
        Index(
            "ix_digest_item_pending",
            "user_id",
            "created_at",
            postgresql_where=text("digest_id IS NULL"),
            sqlite_where=text("digest_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    frequency: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(1000), default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digest.id", ondelete="SET NULL"), index=True)


class MailboxHealth(db.Model):
    """Permanent SMTP failures (5xx) per address; at the limit the address is undeliverable."""

    __tablename__ = "mailbox_health"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    permanent_failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    undeliverable_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
