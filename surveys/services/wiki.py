"""Wiki surveys (pairwise): server-issued pairs favouring less-compared ideas, single-use
pair tokens, "can't decide", citizens' ideas through moderation, and Bradley–Terry scores
(the `choix` package) with a bootstrap uncertainty interval.

An idea's score is its estimated chance (0–100) to beat a randomly chosen other idea; it
is ranked only after `min_value` comparisons (the question's minimum, default 5).
"""

from __future__ import annotations

import math
import random
import secrets
from collections import Counter
from typing import Any

import numpy as np
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update

from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from surveys.models import (
    ChoiceStatus,
    QuestionKind,
    Survey,
    SurveyChoice,
    SurveyQuestion,
    VoteChoice,
    WikiPair,
    WikiVote,
)
from surveys.services.common import invalid, respondent_key_for
from surveys.services.responses import accepting_answers, has_access

BOOTSTRAP_ROUNDS = 60
IDEA_MAX = 300


def pairwise_question(survey: Survey, question_id: int) -> SurveyQuestion:
    question = survey.question(question_id)
    if question is None or question.kind != QuestionKind.pairwise:
        raise DomainError(_l("Esa pregunta no es una encuesta wiki."), status=404, code="not_found")
    return question


def _check_voter(user: User, survey: Survey) -> str:
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de responder encuestas."),
            status=403,
            code="email_not_verified",
        )
    if not accepting_answers(survey):
        raise DomainError(_l("Esta encuesta no está abierta."), code="survey_closed")
    if not has_access(user, survey):
        raise DomainError(
            _l("Esta encuesta es solo por invitación: abre el enlace que recibiste."),
            status=403,
            code="invitation_required",
        )
    key = respondent_key_for(survey, user)
    if key is None:
        raise DomainError(_l("Esta encuesta no está abierta."), code="survey_closed")
    return key


def comparison_counts(question: SurveyQuestion) -> Counter[int]:
    """Votes (skips included) each idea took part in."""
    counts: Counter[int] = Counter()
    for column in (WikiVote.left_id, WikiVote.right_id):
        for idea_id, count in db.session.execute(
            select(column, func.count()).where(WikiVote.question_id == question.id).group_by(column)
        ):
            counts[idea_id] += count
    return counts


def next_pair(user: User, survey: Survey, question: SurveyQuestion) -> WikiPair:
    """Issue a pair: the least-compared idea against one drawn with weight 1/(1+comparisons)."""
    key = _check_voter(user, survey)
    ideas = question.approved_choices
    if len(ideas) < 2:
        raise DomainError(_l("Todavía no hay suficientes ideas para comparar."), code="not_enough_ideas")
    counts = comparison_counts(question)
    rng = random.SystemRandom()
    fewest = min(counts.get(idea.id, 0) for idea in ideas)
    first = rng.choice([idea for idea in ideas if counts.get(idea.id, 0) == fewest])
    others = [idea for idea in ideas if idea.id != first.id]
    weights = [1.0 / (1 + counts.get(idea.id, 0)) for idea in others]
    second = rng.choices(others, weights=weights, k=1)[0]
    left, right = (first, second) if rng.random() < 0.5 else (second, first)
    pair = WikiPair(
        token=secrets.token_urlsafe(24),
        question_id=question.id,
        left_id=left.id,
        right_id=right.id,
        respondent_key=key,
    )
    db.session.add(pair)
    db.session.commit()
    pair.left, pair.right = left, right
    return pair


def vote(user: User, survey: Survey, question: SurveyQuestion, token: Any, choice: Any) -> WikiVote:
    """Record one comparison with a pair token issued to this person; a token counts once."""
    key = _check_voter(user, survey)
    if choice not in {c.value for c in VoteChoice}:
        raise invalid(_l("Elige izquierda, derecha o «no sé»."), "choice")
    if not isinstance(token, str) or not token:
        raise invalid(_l("Falta el token del par."), "token")
    pair = db.session.execute(
        select(WikiPair).where(WikiPair.token == token, WikiPair.question_id == question.id)
    ).scalar_one_or_none()
    if pair is None or pair.respondent_key != key:
        raise DomainError(_l("Ese par no es válido."), status=404, code="invalid_pair")
    claimed = db.session.execute(
        update(WikiPair).where(WikiPair.id == pair.id, WikiPair.used_at.is_(None)).values(used_at=utcnow())
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise DomainError(_l("Ya votaste con este par; pide otro."), code="pair_used")
    row = WikiVote(
        question_id=question.id,
        pair_id=pair.id,
        left_id=pair.left_id,
        right_id=pair.right_id,
        choice=VoteChoice(choice),
        respondent_key=key,
    )
    db.session.add(row)
    db.session.commit()
    return row


def submit_idea(user: User, survey: Survey, question: SurveyQuestion, text: Any) -> SurveyChoice:
    """A citizen's idea; it waits for the institution's moderation before entering the pool."""
    key = _check_voter(user, survey)
    if not isinstance(text, str) or not " ".join(text.split()):
        raise invalid(_l("Escribe tu idea."), "text")
    text = " ".join(text.split())
    if len(text) > IDEA_MAX:
        raise invalid(_l("Máximo %(n)s caracteres.", n=IDEA_MAX), "text")
    if any(
        c.label.casefold() == text.casefold() for c in question.choices if c.status != ChoiceStatus.rejected
    ):
        raise DomainError(_l("Esa idea ya está en la lista."), code="duplicate_idea", field="text")
    pending = db.session.execute(
        select(func.count())
        .select_from(SurveyChoice)
        .where(
            SurveyChoice.question_id == question.id,
            SurveyChoice.submitted_key == key,
            SurveyChoice.status == ChoiceStatus.pending,
        )
    ).scalar_one()
    if pending >= 5:
        raise DomainError(_l("Ya tienes 5 ideas esperando revisión."), status=429, code="too_many_ideas")
    idea = SurveyChoice(
        question_id=question.id,
        label=text,
        status=ChoiceStatus.pending,
        submitted_key=key,
        position=len(question.choices),
    )
    db.session.add(idea)
    db.session.commit()
    return idea


def moderate_idea(actor: User | None, idea: SurveyChoice, approve: bool) -> SurveyChoice:
    """Let an idea into the pool, or reject it."""
    from core import audit

    if idea.status != ChoiceStatus.pending:
        raise DomainError(_l("Esa idea ya fue revisada."), code="already_moderated")
    idea.status = ChoiceStatus.approved if approve else ChoiceStatus.rejected
    idea.moderated_at = utcnow()
    audit.record(
        "survey.idea_approved" if approve else "survey.idea_rejected",
        idea.question.survey,
        actor=actor,
        details={"idea": idea.id},
    )
    db.session.commit()
    return idea


def pending_ideas(survey: Survey) -> list[SurveyChoice]:
    return [c for q in survey.questions for c in q.choices if c.status == ChoiceStatus.pending]


# --- scores -----------------------------------------------------------------------------------


def _fit(n: int, comparisons: list[tuple[int, int]]) -> np.ndarray:
    import choix

    if not comparisons:
        return np.zeros(n)
    # A little regularisation keeps ideas that never lost (or never won) finite.
    return choix.opt_pairwise(n, comparisons, alpha=0.05)


def _chance_to_beat_random(params: np.ndarray) -> np.ndarray:
    n = len(params)
    if n < 2:
        return np.full(n, 50.0)
    diff = params[:, None] - params[None, :]
    win = 1.0 / (1.0 + np.exp(-diff))
    np.fill_diagonal(win, 0.0)
    return 100.0 * win.sum(axis=1) / (n - 1)


def idea_scores(question: SurveyQuestion) -> list[dict[str, Any]]:
    """Approved ideas with score, 95 % interval, comparisons and wins, best first; unranked
    ideas (too few comparisons) last with `ranked: false`."""
    ideas = question.approved_choices
    if not ideas:
        return []
    index = {idea.id: i for i, idea in enumerate(ideas)}
    votes = db.session.execute(
        select(WikiVote.left_id, WikiVote.right_id, WikiVote.choice).where(
            WikiVote.question_id == question.id,
            WikiVote.choice != VoteChoice.skip,
            or_(WikiVote.left_id.in_(index), WikiVote.right_id.in_(index)),
        )
    ).all()
    comparisons: list[tuple[int, int]] = []
    wins: Counter[int] = Counter()
    seen: Counter[int] = Counter()
    for left, right, choice in votes:
        if left not in index or right not in index:
            continue
        winner, loser = (left, right) if choice == VoteChoice.left else (right, left)
        comparisons.append((index[winner], index[loser]))
        wins[winner] += 1
        seen[winner] += 1
        seen[loser] += 1
    n = len(ideas)
    scores = _chance_to_beat_random(_fit(n, comparisons))
    low = high = scores
    if comparisons:
        rng = np.random.default_rng(len(comparisons))
        samples = []
        for _ in range(BOOTSTRAP_ROUNDS):
            drawn = [comparisons[i] for i in rng.integers(0, len(comparisons), len(comparisons))]
            samples.append(_chance_to_beat_random(_fit(n, drawn)))
        stacked = np.vstack(samples)
        low, high = np.percentile(stacked, 2.5, axis=0), np.percentile(stacked, 97.5, axis=0)
    minimum = int(question.min_value or 5)
    result = []
    for idea in ideas:
        i = index[idea.id]
        result.append(
            {
                "id": idea.id,
                "text": idea.label,
                "score": _clean(scores[i]),
                "low": _clean(low[i]),
                "high": _clean(high[i]),
                "comparisons": seen[idea.id],
                "wins": wins[idea.id],
                "ranked": seen[idea.id] >= minimum,
            }
        )
    result.sort(key=lambda r: (not r["ranked"], -(r["score"] or 0), r["text"]))
    return result


def _clean(value: float) -> float:
    value = float(value)
    return round(value, 1) if math.isfinite(value) else 50.0
