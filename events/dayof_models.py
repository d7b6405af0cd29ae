"""The day of an event: messages the organisers send to its people, attendance certificates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import User
from core.timeutil import UTCDateTime, utcnow
from events.models import Event, Registration


class MessageAudience:
    """Who an organiser's message goes to."""

    confirmed = "confirmed"
    waitlisted = "waitlisted"
    all = (confirmed, waitlisted)


class EventMessage(db.Model):
    """A message an event's organisers sent to its confirmed or waitlisted people.

    `digest` is a hash of the audience, subject and body: the unique constraint makes a
    double submit (two tabs, a double click, a retried API call) one message, and each
    recipient's outbox row carries a dedupe key built from it.
    """

    __tablename__ = "event_message"
    __table_args__ = (
        UniqueConstraint("event_id", "digest"),
        CheckConstraint("audience IN ('confirmed', 'waitlisted')", name="audience"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    audience: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    recipients: Mapped[int] = mapped_column(default=0)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship()
    sent_by: Mapped[User | None] = relationship()

    @property
    def institution_id(self) -> int:
        """The institution that manages it (the event's), for the audit log."""
        return self.event.institution_id


class AttendanceCertificate(db.Model):
    """A constancia de asistencia: issued once per attended registration, verifiable by `code`.

    The code is random (not derived from ids), so certificates cannot be enumerated; the
    holder's name is kept as printed on the PDF.
    """

    __tablename__ = "attendance_certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), unique=True
    )
    code: Mapped[str] = mapped_column(String(32), unique=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    registration: Mapped[Registration] = relationship()
