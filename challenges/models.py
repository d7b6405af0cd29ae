"""Public challenges (retos públicos): terms, teams, versioned submissions, clarifications,
the jury (conflicts, assignments, eligibility, scores), community votes and the showcase."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Institution, User
from core.timeutil import UTCDateTime, utcnow


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class ChallengeStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    open = "open"
    closed = "closed"
    judging = "judging"
    results_published = "results_published"
    awarded = "awarded"
    cancelled = "cancelled"


class MemberRole(enum.StrEnum):
    captain = "captain"
    member = "member"


class ConflictKind(enum.StrEnum):
    declared = "declared"
    institution = "institution"
    email_domain = "email_domain"


class ShowcaseKind(enum.StrEnum):
    app = "app"
    visualisation = "visualisation"
    tool = "tool"
    research = "research"
    article = "article"


class ShowcaseStatus(enum.StrEnum):
    pending = "pending"
    published = "published"
    rejected = "rejected"


class Challenge(db.Model):
    """A problem an institution poses, with a submission window, terms and a jury."""

    __table_args__ = (
        CheckConstraint(_in("status", ChallengeStatus), name="status"),
        CheckConstraint("closes_at > opens_at", name="window"),
        CheckConstraint("team_min >= 1 AND team_max >= team_min", name="team_size"),
        CheckConstraint("submission_limit >= 1", name="submission_limit"),
        CheckConstraint("jurors_per_submission >= 1", name="jurors_per_submission"),
        CheckConstraint("status <> 'cancelled' OR cancel_reason IS NOT NULL", name="cancel_reason"),
        Index("ix_challenge_status_closes_at", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    # A datathon that hosts the challenge for its teams.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id", ondelete="SET NULL"), index=True)
    status: Mapped[ChallengeStatus] = mapped_column(String(20), default=ChallengeStatus.draft)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    problem: Mapped[str] = mapped_column(Text, default="")
    expected_outcomes: Mapped[str] = mapped_column(Text, default="")
    eligibility: Mapped[str] = mapped_column(Text, default="")
    prizes: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    team_min: Mapped[int] = mapped_column(default=1)
    team_max: Mapped[int] = mapped_column(default=5)
    submission_limit: Mapped[int] = mapped_column(default=1)
    jurors_per_submission: Mapped[int] = mapped_column(default=3)
    community_vote: Mapped[bool] = mapped_column(default=False)
    scores_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terms_version: Mapped[int] = mapped_column(default=1)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    panel_locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignment_seed: Mapped[int | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    awarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    institution: Mapped[Institution] = relationship()
    terms: Mapped[list[ChallengeTerms]] = relationship(
        back_populates="challenge", cascade="all, delete-orphan", order_by="ChallengeTerms.version"
    )
    datasets: Mapped[list[ChallengeDataset]] = relationship(
        back_populates="challenge", cascade="all, delete-orphan", order_by="ChallengeDataset.id"
    )
    rubric: Mapped[list[RubricCriterion]] = relationship(
        back_populates="challenge", cascade="all, delete-orphan", order_by="RubricCriterion.position"
    )

    @property
    def current_terms(self) -> ChallengeTerms | None:
        """The terms teams accept now (the latest version)."""
        return self.terms[-1] if self.terms else None

    def __repr__(self) -> str:
        return f"<Challenge {self.id} {self.status}>"


class ChallengeTerms(db.Model):
    """One version of a challenge's terms; submissions keep the version and its SHA-256."""

    __table_args__ = (UniqueConstraint("challenge_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    challenge: Mapped[Challenge] = relationship(back_populates="terms")


class ChallengeDataset(db.Model):
    """A dataset the challenge invites teams to use: a catalogue row or a title and address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(1000))

    challenge: Mapped[Challenge] = relationship(back_populates="datasets")


class RubricCriterion(db.Model):
    """One weighted criterion of the rubric, published with the challenge."""

    __table_args__ = (
        UniqueConstraint("challenge_id", "name"),
        CheckConstraint("weight > 0", name="weight"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(1000), default="")
    weight: Mapped[float] = mapped_column(Float)

    challenge: Mapped[Challenge] = relationship(back_populates="rubric")


class Team(db.Model):
    """A team that takes part in a challenge, led by its captain."""

    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    captain_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Part of every signed invitation link: changing it revokes the links already shared.
    invite_nonce: Mapped[str] = mapped_column(String(32))
    legal_name: Mapped[str | None] = mapped_column(String(300))
    rfc: Mapped[str | None] = mapped_column(String(13))
    award: Mapped[str | None] = mapped_column(String(200))
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    challenge: Mapped[Challenge] = relationship()
    captain: Mapped[User | None] = relationship()
    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="TeamMember.id"
    )


class TeamMember(db.Model):
    """A person in a team; one team per person per challenge."""

    __table_args__ = (
        UniqueConstraint("challenge_id", "user_id"),
        CheckConstraint(_in("role", MemberRole), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    # Repeated from the team so the database itself refuses a second team in one challenge.
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(String(16), default=MemberRole.member)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class TeamInvitation(db.Model):
    """An invitation to a team sent by email (the link itself is signed)."""

    __table_args__ = (UniqueConstraint("team_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Submission(db.Model):
    """One solution of a team; its versions keep every change until the close."""

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    current_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship()
    challenge: Mapped[Challenge] = relationship()
    versions: Mapped[list[SubmissionVersion]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="SubmissionVersion.version"
    )

    @property
    def latest(self) -> SubmissionVersion:
        """The last version: the final one once the challenge closed."""
        return self.versions[-1]


class SubmissionVersion(db.Model):
    """What a team submitted at one moment, with the terms it accepted (version and SHA-256)."""

    __table_args__ = (UniqueConstraint("submission_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    repository_url: Mapped[str] = mapped_column(String(500))
    demo_url: Mapped[str | None] = mapped_column(String(500))
    licence: Mapped[str] = mapped_column(String(64))
    # [{"dataset_id": int | None, "title": str, "url": str | None}]
    datasets_used: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    terms_version: Mapped[int] = mapped_column()
    terms_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="versions")
    submitted_by: Mapped[User | None] = relationship()
    attachments: Mapped[list[SubmissionAttachment]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="SubmissionAttachment.id"
    )


class SubmissionAttachment(db.Model):
    """A file of a submission version, stored under instance/ with a generated name."""

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("submission_version.id", ondelete="CASCADE"), index=True
    )
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[SubmissionVersion] = relationship(back_populates="attachments")


class Clarification(db.Model):
    """A public question about a challenge and the institution's official answer."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    asked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    asked_by: Mapped[User | None] = relationship(foreign_keys=[asked_by_id])


class Juror(db.Model):
    """A juror of a challenge: an account, or an address invited to sign up."""

    __table_args__ = (UniqueConstraint("challenge_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    challenge: Mapped[Challenge] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class Conflict(db.Model):
    """A conflict of interest a juror declared with a team (automatic ones are computed)."""

    __table_args__ = (UniqueConstraint("juror_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    juror_id: Mapped[int] = mapped_column(ForeignKey("juror.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Assignment(db.Model):
    """A juror assigned to score a submission."""

    __table_args__ = (UniqueConstraint("juror_id", "submission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    juror_id: Mapped[int] = mapped_column(ForeignKey("juror.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    juror: Mapped[Juror] = relationship()
    submission: Mapped[Submission] = relationship()


class EligibilityCheck(db.Model):
    """The gate before scoring: a submission passes or fails, with the reason."""

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), unique=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Score(db.Model):
    """A juror's current scores of a submission, per criterion, with a comment."""

    __table_args__ = (UniqueConstraint("juror_id", "submission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    juror_id: Mapped[int] = mapped_column(ForeignKey("juror.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), index=True)
    values: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    juror: Mapped[Juror] = relationship()


class ScoreChange(db.Model):
    """Every score as given and every later change (the audit export)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    juror_id: Mapped[int] = mapped_column(ForeignKey("juror.id", ondelete="CASCADE"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    values: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommunityVote(db.Model):
    """A verified person's community-choice vote: one per person per challenge."""

    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShowcaseItem(db.Model):
    """An app, visualisation, tool, study or article built on open data (/apps)."""

    __table_args__ = (
        CheckConstraint(_in("kind", ShowcaseKind), name="kind"),
        CheckConstraint(_in("status", ShowcaseStatus), name="status"),
        Index("ix_showcase_item_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ShowcaseKind] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ShowcaseStatus] = mapped_column(String(16), default=ShowcaseStatus.pending)
    # A winning solution brought to the showcase from its challenge.
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id", ondelete="SET NULL"))
    screenshot_name: Mapped[str | None] = mapped_column(String(64))
    screenshot_type: Mapped[str | None] = mapped_column(String(32))
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    datasets: Mapped[list[ShowcaseDataset]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="ShowcaseDataset.id"
    )
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])


class ShowcaseDataset(db.Model):
    """A dataset a showcase item uses (its institution may approve the item)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("showcase_item.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(1000))

    item: Mapped[ShowcaseItem] = relationship(back_populates="datasets")
