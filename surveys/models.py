"""Surveys, their sections, questions and choices, answer sets, wiki-survey votes,
invitations and exports.

Answer sets, answers, votes and citizens' ideas carry random ids (not sequences), so the
order of rows never says who answered when; only the per-survey HMAC of the account
(`respondent_key`) ties an answer set to a person, and anonymous surveys lose the key
at the close.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Institution, User
from core.timeutil import UTCDateTime, utcnow


def random_id() -> int:
    """A random positive id that fits a JSON number exactly (53 bits)."""
    return secrets.randbits(52) + 1


def new_survey_key() -> bytes:
    """A fresh per-survey HMAC secret."""
    return secrets.token_bytes(32)


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class SurveyStatus(enum.StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    open = "open"
    closed = "closed"
    published = "published"


class Privacy(enum.StrEnum):
    identified = "identified"
    pseudonymous = "pseudonymous"
    anonymous = "anonymous"


class QuestionKind(enum.StrEnum):
    single_choice = "single_choice"
    multiple_choice = "multiple_choice"
    ranking = "ranking"
    rating = "rating"
    short_text = "short_text"
    long_text = "long_text"
    number = "number"
    dataset_demand = "dataset_demand"
    pairwise = "pairwise"


CHOICE_KINDS = {
    QuestionKind.single_choice,
    QuestionKind.multiple_choice,
    QuestionKind.ranking,
    QuestionKind.pairwise,
}
TEXT_KINDS = {QuestionKind.short_text, QuestionKind.long_text}


class ChoiceStatus(enum.StrEnum):
    """Choices the builder writes are approved; ideas citizens add wait for moderation."""

    approved = "approved"
    pending = "pending"
    rejected = "rejected"


class Moderation(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class VoteChoice(enum.StrEnum):
    left = "left"
    right = "right"
    skip = "skip"


class ExportStatus(enum.StrEnum):
    pending = "pending"
    running = "running"
    ready = "ready"
    failed = "failed"


class Survey(db.Model):
    """A questionnaire an institution puts to the public."""

    __table_args__ = (
        CheckConstraint(_in("status", SurveyStatus), name="status"),
        CheckConstraint(_in("privacy", Privacy), name="privacy"),
        CheckConstraint("opens_at IS NULL OR closes_at > opens_at", name="window"),
        CheckConstraint("suppression_threshold >= 1", name="threshold_positive"),
        Index("ix_survey_status_closes_at", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    privacy: Mapped[Privacy] = mapped_column(String(16))
    status: Mapped[SurveyStatus] = mapped_column(String(16), default=SurveyStatus.draft)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="America/Mexico_City")
    live_results: Mapped[bool] = mapped_column(default=False)
    invitation_only: Mapped[bool] = mapped_column(default=False)
    suppression_threshold: Mapped[int] = mapped_column(default=5)
    # The per-survey HMAC secret; NULL once destroyed (anonymous surveys, at the close).
    hmac_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=new_survey_key, deferred=True)
    key_destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    duplicated_from_id: Mapped[int | None] = mapped_column(ForeignKey("survey.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    institution: Mapped[Institution] = relationship()
    sections: Mapped[list[SurveySection]] = relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="SurveySection.position"
    )
    questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="SurveyQuestion.position"
    )

    def question(self, question_id: int) -> SurveyQuestion | None:
        """One of this survey's questions by id."""
        for question in self.questions:
            if question.id == question_id:
                return question
        return None


class SurveySection(db.Model):
    """A titled group of questions (a page of the questionnaire)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    survey: Mapped[Survey] = relationship(back_populates="sections")


class SurveyQuestion(db.Model):
    """One question; its kind says what an answer looks like."""

    __table_args__ = (CheckConstraint(_in("kind", QuestionKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int | None] = mapped_column(ForeignKey("survey_section.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[QuestionKind] = mapped_column(String(32))
    prompt: Mapped[str] = mapped_column(String(500))
    help_text: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[bool] = mapped_column(default=False)
    # multiple_choice: picks; number: value bounds; pairwise: comparisons before ranking.
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    scale_min: Mapped[int | None] = mapped_column()
    scale_max: Mapped[int | None] = mapped_column()
    scale_min_label: Mapped[str | None] = mapped_column(String(100))
    scale_max_label: Mapped[str | None] = mapped_column(String(100))
    # {"question": <earlier question id>, "choices": [ids]} or {"question": id, "min": x, "max": y}
    show_if: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    survey: Mapped[Survey] = relationship(back_populates="questions")
    choices: Mapped[list[SurveyChoice]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="SurveyChoice.position"
    )

    @property
    def approved_choices(self) -> list[SurveyChoice]:
        return [c for c in self.choices if c.status == ChoiceStatus.approved]


class SurveyChoice(db.Model):
    """An option of a choice or ranking question, or an idea of a wiki survey."""

    __table_args__ = (CheckConstraint(_in("status", ChoiceStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_question.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    label: Mapped[str] = mapped_column(String(500))
    status: Mapped[ChoiceStatus] = mapped_column(String(16), default=ChoiceStatus.approved)
    # Citizens' ideas: the submitter's respondent key (cleared at an anonymous close).
    submitted_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    question: Mapped[SurveyQuestion] = relationship(back_populates="choices")


class SurveyResponse(db.Model):
    """One person's answer set: at most one per survey (the respondent key is unique)."""

    __table_args__ = (
        UniqueConstraint("survey_id", "respondent_key"),
        # Respondents per sector, state and use without reading the rows (index-only scan).
        Index("ix_survey_response_profile", "survey_id", "sector", "state", "intended_use"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, default=random_id)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    respondent_key: Mapped[str] = mapped_column(String(64))
    # Only for identified surveys.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    sector: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(64))
    intended_use: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    survey: Mapped[Survey] = relationship()
    user: Mapped[User | None] = relationship()


class SurveyAnswer(db.Model):
    """One normalised piece of an answer set, for counting in SQL.

    A choice (or a ranked/ticked choice with its `position`), a number (rating, number), a
    text, a catalogue dataset or a proposed one (`text` the title, `detail` the description).
    Rows of a question that take several per answer set are numbered from 0 in `position`,
    so "position 0 or NULL" counts each answering respondent once.
    """

    __table_args__ = (
        Index("ix_survey_answer_question_choice", "question_id", "choice_id"),
        # Moderation queues and the approved texts of results.
        Index("ix_survey_answer_survey_moderation", "survey_id", "moderation"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, default=random_id)
    response_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("survey_response.id", ondelete="CASCADE"), index=True
    )
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_question.id", ondelete="CASCADE"))
    choice_id: Mapped[int | None] = mapped_column(ForeignKey("survey_choice.id", ondelete="CASCADE"))
    position: Mapped[int | None] = mapped_column()
    number: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"))
    moderation: Mapped[Moderation | None] = mapped_column(String(16))
    # The answer set's profile, repeated so breakdowns count without a join.
    sector: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(64))
    # On PostgreSQL the table also has `profile_key`, generated from sector and state and not
    # mapped here (migration 02e07ba2ae7b; see surveys.services.results.PROFILE_KEY_SQL).


class SurveyStart(db.Model):
    """Someone opened the questionnaire: who to remind before the close and tell when results
    are out. Kept apart from answers; for anonymous surveys it has no times after the close."""

    __table_args__ = (UniqueConstraint("survey_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, default=random_id)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # Set at the close for those who had submitted (who is told about the results).
    responded: Mapped[bool] = mapped_column(default=False)


class SurveyInvitation(db.Model):
    """A single-use link for a closed audience; the signed token names `nonce`."""

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who redeemed it, as the survey's respondent key (cleared at an anonymous close).
    respondent_key: Mapped[str | None] = mapped_column(String(64), index=True)


class WikiPair(db.Model):
    """A pair the server showed; its token may be used for one vote only."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, default=random_id)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_question.id", ondelete="CASCADE"), index=True)
    left_id: Mapped[int] = mapped_column(ForeignKey("survey_choice.id", ondelete="CASCADE"))
    right_id: Mapped[int] = mapped_column(ForeignKey("survey_choice.id", ondelete="CASCADE"))
    respondent_key: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WikiVote(db.Model):
    """One comparison: left won, right won, or "can't decide" (skip)."""

    __table_args__ = (
        CheckConstraint(_in("choice", VoteChoice), name="choice"),
        Index("ix_wiki_vote_question_left_right", "question_id", "left_id", "right_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, default=random_id)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_question.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("wiki_pair.id", ondelete="CASCADE"), unique=True
    )
    left_id: Mapped[int] = mapped_column(ForeignKey("survey_choice.id", ondelete="CASCADE"))
    right_id: Mapped[int] = mapped_column(ForeignKey("survey_choice.id", ondelete="CASCADE"))
    choice: Mapped[VoteChoice] = mapped_column(String(8))
    respondent_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class SurveyExport(db.Model):
    """An export built by the worker (large surveys), kept until downloaded or replaced."""

    __table_args__ = (CheckConstraint(_in("status", ExportStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[ExportStatus] = mapped_column(String(16), default=ExportStatus.pending)
    progress: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    filename: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
