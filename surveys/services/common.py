"""Shared pieces of the surveys workflow: errors, loading, labels and the respondent key."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from demand.models import IntendedUse
from surveys.models import Privacy, QuestionKind, Survey, SurveyQuestion, SurveyStatus

STATUS_LABELS = {
    SurveyStatus.draft: _l("Borrador"),
    SurveyStatus.scheduled: _l("Programada"),
    SurveyStatus.open: _l("Abierta"),
    SurveyStatus.closed: _l("Cerrada"),
    SurveyStatus.published: _l("Resultados publicados"),
}
PRIVACY_LABELS = {
    Privacy.identified: _l("Identificada"),
    Privacy.pseudonymous: _l("Seudónima"),
    Privacy.anonymous: _l("Anónima"),
}
PRIVACY_EXPLANATIONS = {
    Privacy.identified: _l(
        "La institución verá tu nombre y correo junto a tus respuestas, además de tu sector y estado."
    ),
    Privacy.pseudonymous: _l(
        "La institución verá tus respuestas con tu sector y estado, pero nunca quién eres: "
        "tus respuestas se guardan con una clave que solo sirve para esta encuesta."
    ),
    Privacy.anonymous: _l(
        "Como en una encuesta seudónima, la institución nunca sabrá quién eres; además, al cerrar "
        "la encuesta se destruye la clave que une tus respuestas con tu cuenta: nadie, ni con acceso "
        "a la base de datos, podrá volver a relacionarlas contigo (y tú ya no podrás verlas)."
    ),
}
KIND_LABELS = {
    QuestionKind.single_choice: _l("Opción única"),
    QuestionKind.multiple_choice: _l("Opción múltiple"),
    QuestionKind.ranking: _l("Ordenar por preferencia"),
    QuestionKind.rating: _l("Escala"),
    QuestionKind.short_text: _l("Respuesta corta"),
    QuestionKind.long_text: _l("Respuesta larga"),
    QuestionKind.number: _l("Número"),
    QuestionKind.dataset_demand: _l("Datos que necesitas"),
    QuestionKind.pairwise: _l("Encuesta wiki (comparar ideas)"),
}
INTENDED_USE_LABELS = {
    IntendedUse.research: _l("Investigación"),
    IntendedUse.journalism: _l("Periodismo"),
    IntendedUse.app_or_service: _l("Una aplicación o servicio"),
    IntendedUse.public_policy: _l("Política pública"),
    IntendedUse.teaching: _l("Docencia"),
    IntendedUse.personal: _l("Uso personal"),
    IntendedUse.other: _l("Otro"),
}


def invalid(message: Any, field: str | None = None) -> DomainError:
    """A 422 for a wrong value, naming the field (a question id for answers)."""
    return DomainError(message, field=field, status=422, code="validation_error")


def illegal(message: Any) -> DomainError:
    return DomainError(message, status=409, code="illegal_transition")


def get_survey(survey_id: int) -> Survey | None:
    """A survey with its sections, questions and choices."""
    return db.session.execute(
        select(Survey)
        .where(Survey.id == survey_id)
        .options(
            joinedload(Survey.institution),
            selectinload(Survey.sections),
            selectinload(Survey.questions).selectinload(SurveyQuestion.choices),
        )
    ).scalar_one_or_none()


def survey_key(survey: Survey) -> bytes | None:
    """The survey's HMAC secret (None once destroyed)."""
    return db.session.execute(select(Survey.hmac_key).where(Survey.id == survey.id)).scalar_one_or_none()


def respondent_key_for(survey: Survey, user: User, key: bytes | None = None) -> str | None:
    """The per-survey pseudonym of an account: HMAC-SHA256(secret, user id). None once the
    secret is destroyed (anonymous surveys after the close)."""
    key = key if key is not None else survey_key(survey)
    if not key:
        return None
    return hmac.new(key, f"user:{user.id}".encode(), hashlib.sha256).hexdigest()
