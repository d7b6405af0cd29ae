"""Datasets mirrored from catalogues, demand items and the signals that feed them."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
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
        Index("ix_demand_item_supporters_count_id", "supporters_count", "id"),
        Index("ix_demand_item_institution_supporters", "institution_id", "supporters_count", "id"),
        # The report's ranking: each institution's items by their signal total, read from the top.
        Index("ix_demand_item_institution_signals_total", "institution_id", "signals_total", "id"),
        # The few merged items, so the aggregation leaves their signals out without a join.
        Index(
            "ix_demand_item_merged",
            "id",
            postgresql_where=text("status = 'merged'"),
            sqlite_where=text("status = 'merged'"),
        ),
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
    # Running totals of the item's signals, kept by `demand.totals` in the transaction that
    # changes a signal, under the item's row lock; the signals are the record, these are what
    # lists sort on and what the report ranks by. Supporters: the unique verified people who
    # asked or said "me too" (their request and support signals).
    supporters_count: Mapped[int] = mapped_column(default=0, server_default="0")
    signals_total: Mapped[int] = mapped_column(default=0, server_default="0")
    signals_request: Mapped[int] = mapped_column(default=0, server_default="0")
    signals_support: Mapped[int] = mapped_column(default=0, server_default="0")
    signals_event: Mapped[int] = mapped_column(default=0, server_default="0")
    signals_survey: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship()
    dataset: Mapped[Dataset | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    answer: Mapped[DemandAnswer | None] = relationship(lazy="joined", cascade="all, delete-orphan")


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
        # Unique supporters per institution, counted from this index alone.
        Index(
            "ix_demand_signal_supporter_institution",
            "institution_id",
            "user_id",
            postgresql_where=text("source IN ('request', 'support')"),
            sqlite_where=text("source IN ('request', 'support')"),
        ),
        # A person supports an item once, whether they asked first or said "me too".
        Index(
            "uq_demand_signal_supporter",
            "item_id",
            "user_id",
            unique=True,
            postgresql_where=text("source IN ('request', 'support')"),
            sqlite_where=text("source IN ('request', 'support')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("demand_item.id", ondelete="CASCADE"), index=True)
    # The item's institution, copied so the hourly aggregation reads the signals without joining
    # a million items; set wherever a signal is written or moves to another item.
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    source: Mapped[SignalSource] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(200))
    weight: Mapped[int] = mapped_column(default=1)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    sector: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(64))
    intended_use: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    item: Mapped[DemandItem] = relationship()


@event.listens_for(DemandSignal, "before_insert")
def _signal_institution(mapper, connection, signal: DemandSignal) -> None:
    """A signal written without its institution takes its item's (the services set it already)."""
    if signal.institution_id is None:
        signal.institution_id = connection.execute(
            select(DemandItem.institution_id).where(DemandItem.id == signal.item_id)
        ).scalar_one()


class NonWorkingDay(db.Model):
    """An extra non-working day an admin adds (the yearly official agreements)."""

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    description: Mapped[str] = mapped_column(String(200))


class ReasonCode(enum.StrEnum):
    """Why an institution cannot publish a dataset (the fixed list of the official answer)."""

    reserved_or_confidential = "reserved_or_confidential"
    personal_data = "personal_data"
    does_not_exist = "does_not_exist"
    not_competent = "not_competent"
    other = "other"


class UrlCheck(enum.StrEnum):
    """What the check of a published dataset's address found."""

    pending = "pending"
    ok = "ok"
    catalogue = "catalogue"
    failed = "failed"


class DemandAnswer(db.Model):
    """The official answer of an item, one row per item (kept apart so signals stay narrow).

    `answered_at` is the first decision (scheduled, published, not possible or answered):
    the moment that counts for the deadline and the accountability figures.
    """

    __tablename__ = "demand_answer"
    __table_args__ = (
        CheckConstraint(f"reason_code IS NULL OR {_in('reason_code', ReasonCode)}", name="reason_code"),
        CheckConstraint(f"url_check IS NULL OR {_in('url_check', UrlCheck)}", name="url_check"),
    )

    item_id: Mapped[int] = mapped_column(ForeignKey("demand_item.id", ondelete="CASCADE"), primary_key=True)
    committed_on: Mapped[date | None] = mapped_column(Date)
    dataset_url: Mapped[str | None] = mapped_column(String(1000))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    explanation: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    answered_on_time: Mapped[bool | None] = mapped_column()
    overdue_noted_on: Mapped[date | None] = mapped_column(Date)
    url_check: Mapped[str | None] = mapped_column(String(16))
    url_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    url_check_detail: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DemandHistory(db.Model):
    """One public entry of an item's history: created, a status change, a merge, a moved date."""

    __tablename__ = "demand_history"
    __table_args__ = (Index("ix_demand_history_item_id_created_at", "item_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("demand_item.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # created | status | merged_into | merged_from | due_moved | overdue | url_checked
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    committed_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    dataset_url: Mapped[str | None] = mapped_column(String(1000))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    explanation: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    other_item_id: Mapped[int | None] = mapped_column(ForeignKey("demand_item.id", ondelete="SET NULL"))

    actor: Mapped[User | None] = relationship()


class DemandFollow(db.Model):
    """A person who follows an item: told of every change of its answer."""

    __tablename__ = "demand_follow"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("demand_item.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(db.Model):
    """A comment (foro) on a catalogue dataset or on a demand item."""

    __table_args__ = (
        CheckConstraint("(dataset_id IS NULL) <> (item_id IS NULL)", name="one_target"),
        Index("ix_comment_item_id_created_at", "item_id", "created_at"),
        Index("ix_comment_dataset_id_created_at", "dataset_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("demand_item.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    body: Mapped[str] = mapped_column(Text)
    official: Mapped[bool] = mapped_column(default=False)
    flags_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    hidden_reason: Mapped[str | None] = mapped_column(String(500))

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])


class CommentFlag(db.Model):
    """A signed-in person's flag on a comment (once per person)."""

    __tablename__ = "comment_flag"
    __table_args__ = (UniqueConstraint("comment_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comment.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DemandReport(db.Model):
    """The latest computed demand report of an institution (a stored snapshot)."""

    __tablename__ = "demand_report"

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institution.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JSON)
