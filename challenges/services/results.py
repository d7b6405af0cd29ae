"""Clarifications (public Q&A), results (draft → published), awards and the community vote."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from challenges.models import (
    Challenge,
    ChallengeStatus,
    Clarification,
    CommunityVote,
    Submission,
    Team,
)
from challenges.services import notices
from challenges.services.common import clean_int, clean_text, lock_challenge
from challenges.services.jury import ranking
from challenges.services.lifecycle import _transition
from challenges.services.showcase import feature_winner
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url

VOTE_STATES = (ChallengeStatus.closed, ChallengeStatus.judging)


# --- clarifications ---------------------------------------------------------------------------


def clarifications_of(challenge_id: int) -> list[Clarification]:
    return list(
        db.session.execute(
            select(Clarification).where(Clarification.challenge_id == challenge_id).order_by(Clarification.id)
        ).scalars()
    )


def ask(user: User, challenge: Challenge, question: Any) -> Clarification:
    """Ask a public question about a challenge (published or open)."""
    if challenge.status not in (ChallengeStatus.published, ChallengeStatus.open):
        raise DomainError(
            _l("Las preguntas se hacen mientras el reto está publicado o abierto."), code="illegal_transition"
        )
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico para preguntar."), status=403, code="email_not_verified"
        )
    text_value = clean_text(question, "question", 2000, required=True)
    clarification = Clarification(challenge_id=challenge.id, question=text_value, asked_by_id=user.id)
    db.session.add(clarification)
    db.session.flush()
    audit.record(
        "challenge.clarification.ask", challenge, actor=user, details={"clarification_id": clarification.id}
    )
    db.session.commit()
    return clarification


def answer(actor: User | None, clarification: Clarification, text: Any) -> Clarification:
    """The institution's official answer; every team member is told."""
    challenge = db.session.get(Challenge, clarification.challenge_id)
    if challenge.status in (ChallengeStatus.cancelled, ChallengeStatus.awarded):
        raise DomainError(_l("Este reto ya no recibe respuestas."), code="illegal_transition")
    answer_text = clean_text(text, "answer", 10000, required=True)
    first = clarification.answer is None
    clarification.answer = answer_text
    clarification.answered_by_id = actor.id if actor else None
    clarification.answered_at = utcnow()
    notices.tell_everyone(
        challenge,
        kind="challenges.clarification",
        subject=_l("Respuesta oficial en «%(title)s»", title=challenge.title),
        lines=[
            _l("Pregunta: %(q)s", q=clarification.question),
            _l("Respuesta oficial: %(a)s", a=answer_text),
        ],
        key=f"challenge-clarification:{clarification.id}:{clarification.answered_at.isoformat()}",
        jurors=False,
    )
    audit.record(
        "challenge.clarification.answer",
        challenge,
        actor=actor,
        details={"clarification_id": clarification.id, "first": first},
    )
    db.session.commit()
    return clarification


# --- results -----------------------------------------------------------------------------------


def publish_results(actor: User | None, challenge: Challenge) -> Challenge:
    """Publish the results (the panel locks if it was not); everyone is told."""
    challenge = lock_challenge(challenge.id)
    _transition(challenge, ChallengeStatus.results_published)
    now = utcnow()
    if challenge.panel_locked_at is None:
        challenge.panel_locked_at = now
    challenge.results_published_at = challenge.updated_at = now
    notices.cancel_all(challenge)
    notices.tell_everyone(
        challenge,
        kind="challenges.results",
        subject=_l("Resultados de «%(title)s»", title=challenge.title),
        lines=[
            _l(
                "La institución %(institution)s publicó los resultados del reto «%(title)s».",
                institution=challenge.institution.name,
                title=challenge.title,
            )
        ],
        key=f"challenge-results:{challenge.id}",
    )
    audit.record("challenge.results.publish", challenge, actor=actor)
    db.session.commit()
    return challenge


def award(actor: User | None, challenge: Challenge, awards: Any) -> Challenge:
    """Mark the awarded teams (`[{"team": id, "award": "1er lugar"}]`): results → awarded."""
    if not isinstance(awards, list) or not awards:
        raise DomainError(_l("Indica al menos un equipo premiado."), field="awards", status=422)
    challenge = lock_challenge(challenge.id)
    _transition(challenge, ChallengeStatus.awarded)
    marked: list[Team] = []
    for item in awards:
        if not isinstance(item, dict):
            raise DomainError(_l("Indica cada equipo con su premio."), field="awards", status=422)
        team = db.session.get(Team, clean_int(item.get("team"), "awards", 1, 2**31 - 1))
        if team is None or team.challenge_id != challenge.id:
            raise DomainError(_l("Ese equipo no participa en este reto."), field="awards", status=422)
        team.award = clean_text(item.get("award"), "awards", 200, required=True)
        marked.append(team)
    challenge.awarded_at = challenge.updated_at = utcnow()
    db.session.flush()
    best: dict[int, int] = {}
    for row in ranking(challenge):  # best ranked first
        best.setdefault(row.team_id, row.submission_id)
    for team in marked:
        if team.id in best:
            feature_winner(actor, challenge, db.session.get(Submission, best[team.id]))
    for team, user in notices.team_members(challenge.id):
        if team in marked:
            notices.tell(
                user,
                challenge,
                kind="challenges.awarded",
                subject=_l("¡Tu equipo fue premiado en «%(title)s»!", title=challenge.title),
                lines=[_l("«%(team)s»: %(award)s", team=team.name, award=team.award)],
                dedupe_key=f"challenge-awarded:{challenge.id}:{user.id}",
                link=external_url("challenges.results", challenge_id=challenge.id),
            )
    audit.record(
        "challenge.award",
        challenge,
        actor=actor,
        details={"awards": [{"team": t.id, "award": t.award} for t in marked]},
    )
    db.session.commit()
    return challenge


def vote(user: User, challenge: Challenge, submission_id: Any) -> CommunityVote:
    """A verified person's community-choice vote (one per person: a database constraint)."""
    if not challenge.community_vote:
        raise DomainError(_l("Este reto no tiene voto del público."), code="vote_disabled")
    if challenge.status not in VOTE_STATES:
        raise DomainError(
            _l("La votación del público es entre el cierre y los resultados."), code="vote_closed"
        )
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico para votar."), status=403, code="email_not_verified"
        )
    submission = db.session.get(Submission, clean_int(submission_id, "submission", 1, 2**31 - 1))
    if submission is None or submission.challenge_id != challenge.id:
        raise DomainError(_l("Esa solución no es de este reto."), field="submission", status=422)
    ballot = CommunityVote(challenge_id=challenge.id, submission_id=submission.id, user_id=user.id)
    db.session.add(ballot)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DomainError(_l("Ya votaste en este reto."), code="already_voted") from None
    return ballot


def my_vote(user: Any, challenge_id: int) -> CommunityVote | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(
        select(CommunityVote).where(
            CommunityVote.challenge_id == challenge_id, CommunityVote.user_id == user.id
        )
    ).scalar_one_or_none()
