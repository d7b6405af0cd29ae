"""Datasets mirrored from catalogues, demand items and the signals that feed them."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Institution, User
from core.timeutil import UTCDateTime, utcnow


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class DemandKind(enum.StrEnum):
    """Publish a dataset (or more of it), or ask about a published one."""

    publish = "publish"
    question = "question"


class DemandStatus(enum.StrEnum):
    """Where the institution's official answer stands."""

    received = "received"
    under_review = "under_review"
    scheduled = "scheduled"
    published = "published"
    not_possible = "not_possible"
    answered = "answered"
    merged = "merged"


class SignalSource(enum.StrEnum):
    """Where a piece of demand came from."""

    request = "request"
    support = "support"
    event = "event"
    survey = "survey"


class IntendedUse(enum.StrEnum):
    """What the person wants the data for (a fixed list, so demand can be counted)."""

    research = "research"
    journalism = "journalism"
    app_or_service = "app_or_service"
    public_policy = "public_policy"
    teaching = "teaching"
    personal = "personal"
    other = "other"


class Dataset(db.Model):
    """A dataset of an institution's open-data catalogue, keyed by the catalogue's own id."""

    __table_args__ = (UniqueConstraint("institution_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(1000))
    formats: Mapped[str | None] = mapped_column(String(300))
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship()


class DemandItem(db.Model):
    """The demand for one dataset (catalogued or proposed) of one institution."""

    __table_args__ = (
        CheckConstraint(_in("kind", DemandKind), name="kind"),
        CheckConstraint(_in("status", DemandStatus), name="status"),
        Index("ix_demand_item_institution_status", "institution_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"), index=True)
    kind: Mapped[DemandKind] = mapped_column(String(16), default=DemandKind.publish)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DemandStatus] = mapped_column(String(16), default=DemandStatus.received)
    due_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("demand_item.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship()
    dataset: Mapped[Dataset | None] = relationship()
    created_by: Mapped[User | None] = relationship()


class DemandSignal(db.Model):
    """One piece of demand for an item, kept with its source, origin and date.

    `ref` names the origin inside its source (``user:12``, ``event:3``, ``survey:7:<key>``), so
    the same origin never counts twice and can move or withdraw what it said. `weight` lets an
    anonymous survey add a count without naming any person.
    """

    __table_args__ = (
        UniqueConstraint("item_id", "source", "ref"),
        CheckConstraint(_in("source", SignalSource), name="source"),
        CheckConstraint("weight > 0", name="weight_positive"),
        Index("ix_demand_signal_source_ref", "source", "ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("demand_item.id", ondelete="CASCADE"), index=True)
    source: Mapped[SignalSource] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(200))
    weight: Mapped[int] = mapped_column(default=1)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    sector: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(64))
    intended_use: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    item: Mapped[DemandItem] = relationship()


class NonWorkingDay(db.Model):
    """An extra non-working day an admin adds (the yearly official agreements)."""

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
