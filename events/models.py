"""Events (dialogue tables, datathons, data-for-development), registrations and outcomes."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.images import UploadedImage
from core.models import Institution, User
from core.timeutil import UTCDateTime, utcnow


class EventKind(enum.StrEnum):
    dialogue_table = "dialogue_table"
    datathon = "datathon"
    data_for_development = "data_for_development"


class EventFormat(enum.StrEnum):
    in_person = "in_person"
    online = "online"
    hybrid = "hybrid"


class EventStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    completed = "completed"
    cancelled = "cancelled"


class RegistrationStatus(enum.StrEnum):
    confirmed = "confirmed"
    waitlisted = "waitlisted"
    cancelled = "cancelled"


class QuestionKind(enum.StrEnum):
    short_text = "short_text"
    single_choice = "single_choice"


class DatasetRelation(enum.StrEnum):
    """Why a dataset is linked to an event: used in it, or published/requested as a result."""

    linked = "linked"
    published = "published"
    requested = "requested"


class CommitmentStatus(enum.StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    done = "done"
    dropped = "dropped"


class ConsentStatus(enum.StrEnum):
    """An institution's answer to being named co-host of an event or responsible for a commitment."""

    pending = "pending"
    accepted = "accepted"
    declined = "declined"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Event(db.Model):
    """A scheduled activity of an institution that people register for."""

    __table_args__ = (
        # Lists page through events by start time.
        Index("ix_event_starts_at_id", "starts_at", "id"),
        CheckConstraint(_in("kind", EventKind), name="kind"),
        CheckConstraint(_in("format", EventFormat), name="format"),
        CheckConstraint(_in("status", EventStatus), name="status"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="capacity_positive"),
        CheckConstraint(
            "registration_closes_at IS NULL OR registration_opens_at IS NULL "
            "OR registration_closes_at > registration_opens_at",
            name="registration_window",
        ),
        CheckConstraint(
            "kind <> 'data_for_development' OR academic_partner IS NOT NULL", name="academic_partner"
        ),
        CheckConstraint("status <> 'cancelled' OR cancel_reason IS NOT NULL", name="cancel_reason"),
        CheckConstraint("cover_image_id IS NULL OR cover_alt IS NOT NULL", name="cover_alt"),
        # published_at is the first publication: a draft never has one, a published or
        # completed event always does (a cancelled one has it only if it was ever public).
        CheckConstraint(
            "(status <> 'draft' OR published_at IS NULL) "
            "AND (status NOT IN ('published', 'completed') OR published_at IS NOT NULL)",
            name="published_at",
        ),
        CheckConstraint(
            "(latitude IS NULL AND longitude IS NULL) OR (latitude BETWEEN -90 AND 90 "
            "AND longitude BETWEEN -180 AND 180)",
            name="coordinates",
        ),
        Index("ix_event_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EventKind] = mapped_column(String(32))
    status: Mapped[EventStatus] = mapped_column(String(16), default=EventStatus.draft)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[EventFormat] = mapped_column(String(16))
    venue: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str | None] = mapped_column(String(64), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    online_url: Mapped[str | None] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    registration_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registration_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    capacity: Mapped[int | None] = mapped_column()
    waitlist_enabled: Mapped[bool] = mapped_column(default=True)
    academic_partner: Mapped[str | None] = mapped_column(String(200))
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=lambda: [1440, 60])
    # Bumped on every change people's calendars must pick up (iCal SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The first publication: set once, never cleared (the one test of "may the public see it").
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Title, summary, topics and institution, casefolded and without accents (events.search).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The cover picture (core.images) and its text alternative, required with it.
    cover_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("image.id", ondelete="SET NULL"), index=True
    )
    cover_alt: Mapped[str | None] = mapped_column(String(300))

    institution: Mapped[Institution] = relationship()
    # Loaded with the list it belongs to (one query per page, not one per event).
    cover: Mapped[UploadedImage | None] = relationship(lazy="selectin")
    cohosts: Mapped[list[EventCohost]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventCohost.id"
    )
    sector_seats: Mapped[list[SectorSeats]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="SectorSeats.sector"
    )
    agenda: Mapped[list[AgendaItem]] = relationship(
        back_populates="event",
        cascade="all, delete-orphan",
        order_by="(AgendaItem.starts_at, AgendaItem.position)",
    )
    datasets: Mapped[list[EventDataset]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventDataset.id"
    )
    questions: Mapped[list[RegistrationQuestion]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="RegistrationQuestion.position"
    )
    outcome: Mapped[EventOutcome | None] = relationship(back_populates="event", cascade="all, delete-orphan")
    commitments: Mapped[list[Commitment]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="Commitment.id"
    )

    @property
    def is_public(self) -> bool:
        """Whether the event was ever published (only then may anyone but its managers see it)."""
        return self.published_at is not None

    def datasets_for(self, relation: DatasetRelation) -> list[EventDataset]:
        """The event's datasets with one relation (linked, published, requested)."""
        return [d for d in self.datasets if d.relation == relation]

    @property
    def state_if_missing(self) -> str | None:
        """The state, unless the address already names it (so it is not shown twice)."""
        if self.state and self.state not in (self.address or ""):
            return self.state
        return None

    @property
    def seats_by_sector(self) -> dict[str, int]:
        """Seats reserved per sector, when the event sets any."""
        return {str(s.sector): s.seats for s in self.sector_seats}

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.kind} {self.status}>"


def public_event_condition() -> Any:
    """The one predicate every public query uses: the event was published at least once."""
    return Event.published_at.is_not(None)


class EventCohost(db.Model):
    """Another institution named co-host of an event (shown; does not manage it).

    It takes effect only once one of that institution's liaisons or staff accepts.
    """

    __table_args__ = (
        UniqueConstraint("event_id", "institution_id"),
        CheckConstraint(_in("status", ConsentStatus), name="status"),
        Index("ix_event_cohost_institution_id_status", "institution_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    status: Mapped[ConsentStatus] = mapped_column(String(16), default=ConsentStatus.pending)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    event: Mapped[Event] = relationship(back_populates="cohosts")
    institution: Mapped[Institution] = relationship(lazy="joined")


class SectorSeats(db.Model):
    """Seats a dialogue table reserves for one sector."""

    __tablename__ = "event_sector_seats"
    __table_args__ = (UniqueConstraint("event_id", "sector"), CheckConstraint("seats >= 0", name="seats"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    sector: Mapped[str] = mapped_column(String(32))
    seats: Mapped[int] = mapped_column()

    event: Mapped[Event] = relationship(back_populates="sector_seats")


class AgendaItem(db.Model):
    """One line of the agenda: a time, a title and who speaks."""

    __tablename__ = "event_agenda_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(300))
    speaker: Mapped[str | None] = mapped_column(String(200))

    event: Mapped[Event] = relationship(back_populates="agenda")


class EventDataset(db.Model):
    """A dataset on a CKAN/DCAT catalogue, linked to an event or resulting from it."""

    __table_args__ = (CheckConstraint(_in("relation", DatasetRelation), name="relation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    relation: Mapped[DatasetRelation] = mapped_column(String(16), default=DatasetRelation.linked)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(500))

    event: Mapped[Event] = relationship(back_populates="datasets")


class RegistrationQuestion(db.Model):
    """A question asked on registration; answers go to the attendee export."""

    __table_args__ = (CheckConstraint(_in("kind", QuestionKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[QuestionKind] = mapped_column(String(16))
    prompt: Mapped[str] = mapped_column(String(300))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(default=False)

    event: Mapped[Event] = relationship(back_populates="questions")


class Registration(db.Model):
    """A person's place at an event: confirmed, waitlisted (in arrival order) or cancelled."""

    __table_args__ = (
        CheckConstraint(_in("status", RegistrationStatus), name="status"),
        CheckConstraint("walk_in OR user_id IS NOT NULL OR erased", name="person"),
        # One active registration per person and event; cancelled ones may pile up.
        Index(
            "uq_registration_active",
            "event_id",
            "user_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
        Index("ix_registration_event_status", "event_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    status: Mapped[RegistrationStatus] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(8), unique=True)
    # The sector the person registered for (seats per sector count this, not the profile).
    sector: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    walk_in: Mapped[bool] = mapped_column(default=False)
    walk_in_name: Mapped[str | None] = mapped_column(String(200))
    erased: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    event: Mapped[Event] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    @property
    def display_name(self) -> str:
        """Who this is, for the attendee list."""
        if self.walk_in:
            return self.walk_in_name or ""
        return self.user.name if self.user is not None else ""


class EventOutcome(db.Model):
    """What came out of an event: attendance and minutes (commitments are separate)."""

    __table_args__ = (CheckConstraint("attendance >= 0", name="attendance"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), unique=True)
    attendance: Mapped[int] = mapped_column()
    minutes: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship(back_populates="outcome")


class Commitment(db.Model):
    """An agreement (acuerdo) made at an event: public, with a responsible party and status."""

    __table_args__ = (
        CheckConstraint(_in("status", CommitmentStatus), name="status"),
        CheckConstraint(
            "responsible_institution_id IS NOT NULL OR responsible_name IS NOT NULL", name="responsible"
        ),
        CheckConstraint(_in("responsible_status", ConsentStatus), name="responsible_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    responsible_institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id", ondelete="SET NULL"), index=True
    )
    responsible_name: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[CommitmentStatus] = mapped_column(String(16), default=CommitmentStatus.pending)
    # The named institution's answer (meaningless without one): it counts only once accepted.
    responsible_status: Mapped[ConsentStatus] = mapped_column(String(16), default=ConsentStatus.accepted)
    responsible_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responsible_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responsible_responded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship(back_populates="commitments")
    responsible_institution: Mapped[Institution | None] = relationship(lazy="joined")

    @property
    def institution_id(self) -> int:
        """The institution that manages it (the event's), for the policy."""
        return self.event.institution_id

    @property
    def responsible_consent(self) -> ConsentStatus | None:
        """The named institution's answer, or None when no institution is named."""
        if self.responsible_institution_id is None:
            return None
        return ConsentStatus(self.responsible_status)

    @property
    def responsible(self) -> str:
        """Who must deliver it, as the organiser named it (public pages use `public_responsible`)."""
        if self.responsible_institution is not None:
            return self.responsible_institution.display_name
        return self.responsible_name or ""

    @property
    def public_responsible(self) -> str:
        """Who must deliver it, as the public sees it: a declined institution is not named."""
        if self.responsible_institution is not None and self.responsible_consent != ConsentStatus.declined:
            return self.responsible_institution.display_name
        return self.responsible_name or ""


class SuccessStory(db.Model):
    """A public story (historia) of what an event achieved."""

    __tablename__ = "success_story"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship()
    institution: Mapped[Institution] = relationship()
    datasets: Mapped[list[StoryDataset]] = relationship(
        back_populates="story", cascade="all, delete-orphan", order_by="StoryDataset.id"
    )


class StoryDataset(db.Model):
    """A dataset a success story links to."""

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("success_story.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(500))

    story: Mapped[SuccessStory] = relationship(back_populates="datasets")


class StoryImage(db.Model):
    """A picture a success story shows (its body refers to it by its /media/ path)."""

    __tablename__ = "story_image"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("success_story.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True, index=True
    )
