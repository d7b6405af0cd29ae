"""Answering: one answer set per person per survey (a unique respondent key), editable
until the close, withdrawable, retry-safe; invitation-only surveys; the "started" list."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.choices import MEXICAN_STATES, Sector
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.security import BadLink, sign, unsign
from core.timeutil import utcnow
from demand.models import Dataset, IntendedUse
from surveys.models import (
    Moderation,
    Privacy,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyStart,
    SurveyStatus,
)
from surveys.services.common import invalid, respondent_key_for

INVITATION_PURPOSE = "survey-invitation"
INVITATION_MAX_AGE = 60 * 60 * 24 * 365
SHORT_TEXT_MAX = 300
LONG_TEXT_MAX = 5000
MAX_NEW_DATASETS = 10


@dataclass
class Submission:
    response: SurveyResponse
    created: bool
    changed: bool
    # The saved answer set as plain values, taken before the commit expired the rows.
    saved: dict[str, Any] | None = None


def snapshot(response: SurveyResponse) -> dict[str, Any]:
    return {
        "answers": response.answers or {},
        "sector": response.sector,
        "state": response.state,
        "intended_use": response.intended_use,
        "created_at": response.created_at,
        "updated_at": response.updated_at,
    }


# --- reading ---------------------------------------------------------------------------------


def accepting_answers(survey: Survey) -> bool:
    """Open, inside its window."""
    now = utcnow()
    return (
        survey.status == SurveyStatus.open
        and survey.closes_at > now
        and (survey.opens_at is None or survey.opens_at <= now)
    )


def response_of(user: Any, survey: Survey) -> SurveyResponse | None:
    """The caller's own answer set (None when none, or when the key was destroyed)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    key = respondent_key_for(survey, user)
    if key is None:
        return None
    return db.session.execute(
        select(SurveyResponse).where(
            SurveyResponse.survey_id == survey.id, SurveyResponse.respondent_key == key
        )
    ).scalar_one_or_none()


def respondent_count(survey: Survey) -> int:
    from sqlalchemy import func

    return db.session.execute(
        select(func.count()).select_from(SurveyResponse).where(SurveyResponse.survey_id == survey.id)
    ).scalar_one()


# --- cleaning answers -----------------------------------------------------------------------------


def _choice_id(question: SurveyQuestion, value: Any, field: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(_l("Elige una de las opciones."), field)
    if value not in {c.id for c in question.approved_choices}:
        raise invalid(_l("Esa opción no es de esta pregunta."), field)
    return value


def _choice_list(question: SurveyQuestion, value: Any, field: str) -> list[int]:
    if not isinstance(value, list):
        raise invalid(_l("Envía una lista de opciones."), field)
    ids = [_choice_id(question, entry, field) for entry in value]
    if len(set(ids)) != len(ids):
        raise invalid(_l("Cada opción puede elegirse una sola vez."), field)
    return ids


def _finite(value: Any, field: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", ""))
        except ValueError:
            raise invalid(_l("Escribe un número."), field) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(_l("Escribe un número."), field)
    return float(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _clean_dataset_demand(survey: Survey, value: Any, field: str) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        raise invalid(_l("Indica los datos que necesitas."), field)
    raw_ids = value.get("datasets") or []
    raw_new = value.get("new") or []
    if not isinstance(raw_ids, list) or not isinstance(raw_new, list):
        raise invalid(_l("Los datos deben ser listas."), field)
    ids: list[int] = []
    for entry in raw_ids:
        if isinstance(entry, str) and entry.isdigit():
            entry = int(entry)
        if isinstance(entry, bool) or not isinstance(entry, int):
            raise invalid(_l("Elige conjuntos de datos del catálogo."), field)
        if entry not in ids:
            ids.append(entry)
    if ids:
        found = set(
            db.session.execute(
                select(Dataset.id).where(
                    Dataset.id.in_(ids),
                    Dataset.institution_id == survey.institution_id,
                    Dataset.withdrawn_at.is_(None),
                )
            ).scalars()
        )
        if found != set(ids):
            raise invalid(_l("Algún conjunto de datos no es del catálogo de esta institución."), field)
    new: list[dict[str, str]] = []
    for entry in raw_new:
        if isinstance(entry, str):
            entry = {"title": entry}
        if not isinstance(entry, Mapping):
            raise invalid(_l("Describe el conjunto de datos nuevo con un título."), field)
        title = entry.get("title")
        description = entry.get("description") or ""
        if not isinstance(title, str) or not isinstance(description, str):
            raise invalid(_l("Describe el conjunto de datos nuevo con un título."), field)
        title, description = " ".join(title.split()), description.strip()
        if not title:
            continue
        if len(title) > 300 or len(description) > 2000:
            raise invalid(_l("El título admite 300 caracteres y la descripción 2000."), field)
        if all(n["title"].casefold() != title.casefold() for n in new):
            new.append({"title": title, "description": description})
    if len(new) > MAX_NEW_DATASETS:
        raise invalid(_l("Propón como máximo %(n)s conjuntos nuevos.", n=MAX_NEW_DATASETS), field)
    if not ids and not new:
        return None
    use = value.get("intended_use")
    if use not in {u.value for u in IntendedUse}:
        raise invalid(_l("Di para qué usarías estos datos."), field)
    return {"datasets": ids, "new": new, "intended_use": use}


def _clean_value(survey: Survey, question: SurveyQuestion, value: Any) -> Any:
    field = str(question.id)
    kind = question.kind
    if kind == QuestionKind.pairwise or _empty(value):
        return None
    if kind == QuestionKind.single_choice:
        return _choice_id(question, value, field)
    if kind == QuestionKind.multiple_choice:
        ids = _choice_list(question, value, field)
        low, high = question.min_value, question.max_value
        if low is not None and len(ids) < low:
            raise invalid(_l("Elige al menos %(n)s opciones.", n=int(low)), field)
        if high is not None and len(ids) > high:
            raise invalid(_l("Elige como máximo %(n)s opciones.", n=int(high)), field)
        return ids
    if kind == QuestionKind.ranking:
        return _choice_list(question, value, field)
    if kind == QuestionKind.rating:
        number = _finite(value, field)
        if number != int(number) or not question.scale_min <= number <= question.scale_max:
            raise invalid(
                _l("Elige un valor entero de %(a)s a %(b)s.", a=question.scale_min, b=question.scale_max),
                field,
            )
        return int(number)
    if kind == QuestionKind.number:
        number = _finite(value, field)
        if question.min_value is not None and number < question.min_value:
            raise invalid(_l("El valor mínimo es %(n)s.", n=_plain(question.min_value)), field)
        if question.max_value is not None and number > question.max_value:
            raise invalid(_l("El valor máximo es %(n)s.", n=_plain(question.max_value)), field)
        return int(number) if number == int(number) and abs(number) < 2**53 else number
    if kind in (QuestionKind.short_text, QuestionKind.long_text):
        if not isinstance(value, str):
            raise invalid(_l("Escribe un texto."), field)
        text = value.strip()
        limit = SHORT_TEXT_MAX if kind == QuestionKind.short_text else LONG_TEXT_MAX
        if len(text) > limit:
            raise invalid(_l("Máximo %(n)s caracteres.", n=limit), field)
        return text or None
    if kind == QuestionKind.dataset_demand:
        return _clean_dataset_demand(survey, value, field)
    raise invalid(_l("Tipo de pregunta desconocido."), field)


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def is_shown(question: SurveyQuestion, answers: Mapping[str, Any]) -> bool:
    """Whether a show-if condition holds for the (cleaned) earlier answers."""
    condition = question.show_if
    if not condition:
        return True
    value = answers.get(str(condition.get("question")))
    if value is None:
        return False
    if "choices" in condition:
        picked = value if isinstance(value, list) else [value]
        return any(choice in picked for choice in condition["choices"])
    if not isinstance(value, int | float):
        return False
    low, high = condition.get("min"), condition.get("max")
    return (low is None or value >= low) and (high is None or value <= high)


def clean_answers(survey: Survey, answers: Any) -> dict[str, Any]:
    """The answer set checked against the questions, hidden questions dropped; 422 names the
    question at fault."""
    if not isinstance(answers, Mapping):
        raise invalid(_l("Las respuestas no son válidas."), "answers")
    known = {str(q.id) for q in survey.questions}
    unknown = [key for key in answers if str(key) not in known]
    if unknown:
        raise invalid(_l("Esa pregunta no es de esta encuesta."), str(unknown[0]))
    raw = {str(key): value for key, value in answers.items()}
    cleaned: dict[str, Any] = {}
    for question in survey.questions:
        if not is_shown(question, cleaned):
            continue
        value = _clean_value(survey, question, raw.get(str(question.id)))
        if value is None:
            if question.required:
                raise invalid(_l("Esta pregunta es obligatoria."), str(question.id))
            continue
        cleaned[str(question.id)] = value
    return cleaned


def clean_profile(
    user: User, profile: Any, answers: Mapping[str, Any], survey: Survey
) -> dict[str, str | None]:
    """Sector, state and intended use kept with the answer set (for breakdowns)."""
    profile = profile if isinstance(profile, Mapping) else {}
    sector = profile.get("sector", user.sector)
    state = profile.get("state", user.state)
    use = profile.get("intended_use")
    if sector not in (None, "") and sector not in {s.value for s in Sector}:
        raise invalid(_l("Sector desconocido."), "sector")
    if state not in (None, "") and state not in MEXICAN_STATES:
        raise invalid(_l("Estado desconocido."), "state")
    if use in (None, ""):
        for question in survey.questions:
            value = answers.get(str(question.id))
            if question.kind == QuestionKind.dataset_demand and value:
                use = value["intended_use"]
                break
    if use not in (None, "") and use not in {u.value for u in IntendedUse}:
        raise invalid(_l("Uso desconocido."), "intended_use")
    return {"sector": str(sector) if sector else None, "state": state or None, "intended_use": use or None}


def _answer_rows(
    survey: Survey, response_id: int, answers: Mapping[str, Any], profile: Mapping[str, Any]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    questions = {str(q.id): q for q in survey.questions}

    def row(question_id: int, **values: Any) -> dict[str, Any]:
        base = {
            "response_id": response_id,
            "survey_id": survey.id,
            "question_id": question_id,
            "choice_id": None,
            "position": None,
            "number": None,
            "text": None,
            "detail": None,
            "dataset_id": None,
            "moderation": None,
            "sector": profile.get("sector"),
            "state": profile.get("state"),
        }
        base.update(values)
        return base

    from surveys.models import random_id

    for key, value in answers.items():
        question = questions[key]
        kind = question.kind
        if kind == QuestionKind.single_choice:
            rows.append(row(question.id, choice_id=value))
        elif kind in (QuestionKind.multiple_choice, QuestionKind.ranking):
            for position, choice_id in enumerate(value):
                rows.append(row(question.id, choice_id=choice_id, position=position))
        elif kind in (QuestionKind.rating, QuestionKind.number):
            rows.append(row(question.id, number=float(value)))
        elif kind in (QuestionKind.short_text, QuestionKind.long_text):
            rows.append(row(question.id, text=value, moderation=Moderation.pending.value))
        elif kind == QuestionKind.dataset_demand:
            for dataset_id in value["datasets"]:
                rows.append(row(question.id, dataset_id=dataset_id))
            for new in value["new"]:
                rows.append(
                    row(
                        question.id,
                        text=new["title"],
                        detail=new["description"],
                        moderation=Moderation.pending.value,
                    )
                )
    for entry in rows:
        entry["id"] = random_id()
    return rows


def _digest(answers: Mapping[str, Any], profile: Mapping[str, Any]) -> str:
    payload = json.dumps({"a": answers, "p": profile}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


# --- submitting -------------------------------------------------------------------------------------


def _check_may_answer(
    user: User, survey: Any, key: str | None, invitation_only: bool, survey_id: int
) -> None:
    """`survey` is the Survey or its freshly locked (status, opens_at, closes_at)."""
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de responder encuestas."),
            status=403,
            code="email_not_verified",
        )
    now = utcnow()
    if survey.status in (SurveyStatus.closed, SurveyStatus.published) or (
        survey.status == SurveyStatus.open and survey.closes_at <= now
    ):
        raise DomainError(_l("Esta encuesta ya cerró."), code="survey_closed")
    if survey.status != SurveyStatus.open or (survey.opens_at is not None and survey.opens_at > now):
        raise DomainError(_l("Esta encuesta todavía no está abierta."), code="survey_not_open")
    if key is None:
        raise DomainError(_l("Esta encuesta ya cerró."), code="survey_closed")
    if invitation_only and not _has_invitation(survey_id, key):
        raise DomainError(
            _l("Esta encuesta es solo por invitación: abre el enlace que recibiste."),
            status=403,
            code="invitation_required",
        )


def _has_invitation(survey_id: int, key: str) -> bool:
    return (
        db.session.execute(
            select(SurveyInvitation.id).where(
                SurveyInvitation.survey_id == survey_id, SurveyInvitation.respondent_key == key
            )
        ).first()
        is not None
    )


def _lock_survey_shared(survey_id: int):
    """Share-lock the survey row and read its current window: answers go in while it stays
    open; closing (FOR UPDATE) waits for answers in flight, and answers after it see it closed."""
    current = db.session.execute(
        select(Survey.status, Survey.opens_at, Survey.closes_at)
        .where(Survey.id == survey_id)
        .with_for_update(read=True)
    ).one_or_none()
    if current is None:
        raise DomainError(_l("Esta encuesta ya no existe."), status=404)
    return current


def submit_response(user: User, survey: Survey, answers: Any, profile: Any = None) -> Submission:
    """Save the person's answer set: created the first time, replaced when it changed,
    untouched when identical (a retry). Unique (survey, respondent key) keeps it one."""
    key = respondent_key_for(survey, user)
    survey_id, invitation_only = survey.id, survey.invitation_only
    _check_may_answer(user, survey, key, invitation_only, survey_id)
    cleaned = clean_answers(survey, answers)
    profile_values = clean_profile(user, profile, cleaned, survey)
    digest = _digest(cleaned, profile_values)
    _check_may_answer(user, _lock_survey_shared(survey_id), key, invitation_only, survey_id)
    existing = _locked_response(survey.id, key)
    created = False
    if existing is None:
        response = SurveyResponse(
            survey_id=survey.id,
            respondent_key=key,
            user_id=user.id if survey.privacy == Privacy.identified else None,
            answers=cleaned,
            digest=digest,
            **profile_values,
        )
        try:
            with db.session.begin_nested():
                db.session.add(response)
                db.session.flush()
            created = True
        except IntegrityError:
            # Another request of the same person inserted first; it is committed now.
            existing = _locked_response(survey.id, key)
            if existing is None:  # withdrawn in between: nothing to build on
                raise DomainError(
                    _l("Tu respuesta cambió mientras la enviabas; intenta de nuevo."), code="conflict"
                ) from None
    if not created:
        response = existing
        if response.digest == digest:
            saved = snapshot(response)
            db.session.commit()
            return Submission(response, created=False, changed=False, saved=saved)
        db.session.execute(delete(SurveyAnswer).where(SurveyAnswer.response_id == response.id))
        response.answers = cleaned
        response.digest = digest
        for name, value in profile_values.items():
            setattr(response, name, value)
        response.updated_at = utcnow()
    rows = _answer_rows(survey, response.id, cleaned, profile_values)
    if rows:
        db.session.execute(SurveyAnswer.__table__.insert(), rows)
    _ensure_started(survey, user)
    saved = snapshot(response)
    db.session.commit()
    from surveys.tasks import request_demand_sync

    request_demand_sync(survey_id)
    return Submission(response, created=created, changed=True, saved=saved)


def _locked_response(survey_id: int, key: str) -> SurveyResponse | None:
    return db.session.execute(
        select(SurveyResponse)
        .where(SurveyResponse.survey_id == survey_id, SurveyResponse.respondent_key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def withdraw_response(user: User, survey: Survey) -> None:
    """Delete one's own answer set (until the close); its demand goes with it."""
    from surveys.services.demand_feed import withdraw_respondent_demand

    key = respondent_key_for(survey, user)
    if survey.status in (SurveyStatus.closed, SurveyStatus.published) or key is None:
        raise DomainError(_l("Esta encuesta ya cerró."), code="survey_closed")
    current = _lock_survey_shared(survey.id)
    if current.status != SurveyStatus.open or current.closes_at <= utcnow():
        raise DomainError(_l("Esta encuesta ya cerró."), code="survey_closed")
    response = _locked_response(survey.id, key)
    if response is None:
        raise DomainError(_l("No has respondido esta encuesta."), status=404, code="no_response")
    withdraw_respondent_demand(survey, key)
    db.session.delete(response)
    db.session.commit()


def _ensure_started(survey: Survey, user: User) -> None:
    found = db.session.execute(
        select(SurveyStart).where(SurveyStart.survey_id == survey.id, SurveyStart.user_id == user.id)
    ).scalar_one_or_none()
    if found is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(SurveyStart(survey_id=survey.id, user_id=user.id))
            db.session.flush()
    except IntegrityError:
        return
    from surveys.services.lifecycle import schedule_close_reminder

    schedule_close_reminder(survey, user)


def record_start(user: User, survey: Survey) -> None:
    """The person opened the questionnaire: remember it for the 48 h reminder."""
    if not user.is_verified or not accepting_answers(survey):
        return
    _ensure_started(survey, user)
    db.session.commit()


def my_surveys(user: User) -> list[tuple[Survey, SurveyResponse | None]]:
    """Surveys the person started, with their answer set when it can still be found."""
    from surveys.services.common import get_survey

    starts = (
        db.session.execute(select(SurveyStart.survey_id).where(SurveyStart.user_id == user.id))
        .scalars()
        .all()
    )
    result = []
    for survey_id in starts:
        survey = get_survey(survey_id)
        if survey is not None:
            result.append((survey, response_of(user, survey)))
    result.sort(key=lambda pair: pair[0].closes_at, reverse=True)
    return result


# --- invitations -------------------------------------------------------------------------------------


def create_invitations(actor: User | None, survey: Survey, count: int, label: str = "") -> list[str]:
    """`count` single-use signed links (tokens) for a closed audience."""
    import secrets

    if not 1 <= count <= 500:
        raise invalid(_l("Crea entre 1 y 500 invitaciones a la vez."), "count")
    if survey.status in (SurveyStatus.closed, SurveyStatus.published):
        raise DomainError(_l("Esta encuesta ya cerró."), code="survey_closed")
    tokens = []
    for _ in range(count):
        nonce = secrets.token_hex(16)
        db.session.add(SurveyInvitation(survey_id=survey.id, nonce=nonce, label=(label or "")[:200]))
        tokens.append(sign({"s": survey.id, "n": nonce}, purpose=INVITATION_PURPOSE))
    db.session.commit()
    return tokens


def redeem_invitation(user: User, token: str) -> Survey:
    """Use an invitation link: it admits this account to the survey, once."""
    from surveys.services.common import get_survey

    try:
        payload = unsign(token, purpose=INVITATION_PURPOSE, max_age=INVITATION_MAX_AGE)
    except BadLink:
        raise DomainError(
            _l("El enlace de invitación no es válido."), status=404, code="invalid_invitation"
        ) from None
    if not isinstance(payload, dict):
        raise DomainError(_l("El enlace de invitación no es válido."), status=404, code="invalid_invitation")
    survey = get_survey(int(payload.get("s", 0)))
    if survey is None:
        raise DomainError(_l("El enlace de invitación no es válido."), status=404, code="invalid_invitation")
    key = respondent_key_for(survey, user)
    if key is None or survey.status in (SurveyStatus.closed, SurveyStatus.published):
        raise DomainError(_l("Esta encuesta ya cerró."), code="survey_closed")
    invitation = db.session.execute(
        select(SurveyInvitation)
        .where(SurveyInvitation.nonce == str(payload.get("n")), SurveyInvitation.survey_id == survey.id)
        .with_for_update()
    ).scalar_one_or_none()
    if invitation is None:
        raise DomainError(_l("El enlace de invitación no es válido."), status=404, code="invalid_invitation")
    if invitation.respondent_key == key:
        return survey
    if invitation.used_at is not None:
        raise DomainError(_l("Este enlace de invitación ya se usó."), code="invitation_used")
    invitation.used_at = utcnow()
    invitation.respondent_key = key
    db.session.commit()
    return survey


def invitation_counts(survey: Survey) -> tuple[int, int]:
    """(links created, links used)."""
    rows = (
        db.session.execute(select(SurveyInvitation.used_at).where(SurveyInvitation.survey_id == survey.id))
        .scalars()
        .all()
    )
    return len(rows), sum(1 for used in rows if used is not None)


def has_access(user: Any, survey: Survey) -> bool:
    """Whether the person may answer an invitation-only survey."""
    if not survey.invitation_only:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    key = respondent_key_for(survey, user)
    return key is not None and _has_invitation(survey.id, key)
