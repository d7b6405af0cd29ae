"""Moderation of free text (answers and proposed dataset names) before results show it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from surveys.models import Moderation, Survey, SurveyAnswer, SurveyQuestion

PAGE = 100


def pending_texts(survey: Survey, limit: int = PAGE) -> list[tuple[SurveyAnswer, SurveyQuestion]]:
    """Texts waiting for a decision, with their question."""
    questions = {q.id: q for q in survey.questions}
    rows = db.session.execute(
        select(SurveyAnswer)
        .where(SurveyAnswer.survey_id == survey.id, SurveyAnswer.moderation == Moderation.pending)
        .order_by(SurveyAnswer.question_id, SurveyAnswer.id)
        .limit(limit)
    ).scalars()
    return [(row, questions[row.question_id]) for row in rows if row.question_id in questions]


def moderate_text(actor: User | None, survey: Survey, answer_id: int, approve: bool) -> SurveyAnswer:
    """Show a text in the results, or keep it out."""
    answer = db.session.get(SurveyAnswer, answer_id)
    if answer is None or answer.survey_id != survey.id or answer.moderation is None:
        raise DomainError(_l("Ese texto no existe."), status=404, code="not_found")
    answer.moderation = Moderation.approved if approve else Moderation.rejected
    audit.record(
        "survey.text_approved" if approve else "survey.text_rejected",
        survey,
        actor=actor,
        details={"question": answer.question_id},
    )
    db.session.commit()
    return answer
