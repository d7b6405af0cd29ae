"""Building surveys: the survey's settings, sections, questions, choices, show-if
conditions, and duplication. Questions are frozen once the first answer exists."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.timeutil import is_valid_timezone, utcnow
from surveys.models import (
    CHOICE_KINDS,
    ChoiceStatus,
    Privacy,
    QuestionKind,
    Survey,
    SurveyChoice,
    SurveyQuestion,
    SurveyResponse,
    SurveySection,
    SurveyStatus,
)
from surveys.services.common import get_survey, invalid

MAX_QUESTIONS = 100
MAX_CHOICES = 60
MIN_PAIRWISE_COMPARISONS = 5
EDITABLE_STATUSES = {SurveyStatus.draft, SurveyStatus.scheduled, SurveyStatus.open}


def has_answers(survey: Survey) -> bool:
    """Whether anyone has answered (questions are frozen from then on)."""
    return bool(db.session.execute(select(exists().where(SurveyResponse.survey_id == survey.id))).scalar())


def _require_questions_editable(survey: Survey) -> None:
    if survey.status not in EDITABLE_STATUSES:
        raise DomainError(
            _l("Esta encuesta ya cerró; sus preguntas no se pueden cambiar."), code="questions_locked"
        )
    if has_answers(survey):
        raise DomainError(
            _l(
                "Ya hay respuestas: las preguntas no se pueden cambiar. "
                "Duplica la encuesta para hacer otra versión."
            ),
            code="questions_locked",
        )


def _text(value: Any, field: str, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid(_l("Escribe un texto."), field)
    value = value.strip()
    if required and not value:
        raise invalid(_l("Este dato es obligatorio."), field)
    if len(value) > max_length:
        raise invalid(_l("Máximo %(n)s caracteres.", n=max_length), field)
    return value


def _moment(value: Any, zone: str, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(_l("Escribe una fecha y hora válidas."), field) from None
    if not isinstance(value, datetime):
        raise invalid(_l("Escribe una fecha y hora válidas."), field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    value = value.astimezone(ZoneInfo("UTC"))
    if value.year < 2000 or value > utcnow() + timedelta(days=3660):
        raise invalid(_l("La fecha está fuera del rango permitido."), field)
    return value


def _number(value: Any, field: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise invalid(_l("Escribe un número."), field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(_l("Escribe un número."), field) from None
    if number != number or number in (float("inf"), float("-inf")) or abs(number) > 1e12:
        raise invalid(_l("Escribe un número."), field)
    return number


def _apply_settings(survey: Survey, data: Mapping[str, Any], *, creating: bool) -> None:
    if "title" in data or creating:
        survey.title = _text(data.get("title"), "title", 200, required=True)
    if "description" in data:
        survey.description = _text(data.get("description"), "description", 20000)
    if data.get("timezone"):
        if not is_valid_timezone(str(data["timezone"])):
            raise invalid(_l("Zona horaria desconocida."), "timezone")
        survey.timezone = str(data["timezone"])
    elif creating:
        survey.timezone = survey.institution.timezone if survey.institution else "America/Mexico_City"
    if "privacy" in data or creating:
        try:
            privacy = Privacy(data.get("privacy"))
        except ValueError:
            raise invalid(_l("Elige cómo se protege a quien responde."), "privacy") from None
        if not creating and privacy != survey.privacy and survey.status != SurveyStatus.draft:
            raise DomainError(
                _l("La privacidad se elige al crear la encuesta y no cambia una vez abierta."),
                code="privacy_locked",
                field="privacy",
            )
        survey.privacy = privacy
    if "opens_at" in data:
        survey.opens_at = _moment(data.get("opens_at"), survey.timezone, "opens_at")
    if "closes_at" in data or creating:
        closes_at = _moment(data.get("closes_at"), survey.timezone, "closes_at")
        if closes_at is None:
            raise invalid(_l("Indica cuándo cierra la encuesta."), "closes_at")
        survey.closes_at = closes_at
    if survey.opens_at is not None and survey.closes_at <= survey.opens_at:
        raise invalid(_l("El cierre debe ser posterior a la apertura."), "closes_at")
    for flag in ("live_results", "invitation_only"):
        if flag in data and data[flag] is not None:
            setattr(survey, flag, bool(data[flag]))
    if "suppression_threshold" in data and data["suppression_threshold"] is not None:
        threshold = data["suppression_threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 2 <= threshold <= 100:
            raise invalid(_l("El umbral debe ser un número entero entre 2 y 100."), "suppression_threshold")
        survey.suppression_threshold = threshold


def _clean_choices(raw: Any, field: str) -> list[str]:
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list):
        raise invalid(_l("Las opciones deben ser una lista."), field)
    labels = []
    for entry in raw:
        if isinstance(entry, Mapping):
            entry = entry.get("label")
        label = _text(entry, field, 500)
        if label and label not in labels:
            labels.append(label)
    if len(labels) > MAX_CHOICES:
        raise invalid(_l("Máximo %(n)s opciones.", n=MAX_CHOICES), field)
    return labels


def clean_question(data: Mapping[str, Any], field: str = "question") -> dict[str, Any]:
    """A question's fields checked and normalised (choices as labels, show_if unresolved)."""
    try:
        kind = QuestionKind(data.get("kind"))
    except ValueError:
        raise invalid(_l("Tipo de pregunta desconocido."), f"{field}.kind") from None
    cleaned: dict[str, Any] = {
        "kind": kind,
        "prompt": _text(data.get("prompt"), f"{field}.prompt", 500, required=True),
        "help_text": _text(data.get("help_text"), f"{field}.help_text", 2000),
        "required": bool(data.get("required")) and kind != QuestionKind.pairwise,
        "min_value": _number(data.get("min"), f"{field}.min"),
        "max_value": _number(data.get("max"), f"{field}.max"),
        "scale_min": None,
        "scale_max": None,
        "scale_min_label": _text(data.get("scale_min_label"), f"{field}.scale_min_label", 100) or None,
        "scale_max_label": _text(data.get("scale_max_label"), f"{field}.scale_max_label", 100) or None,
        "choices": _clean_choices(data.get("choices"), f"{field}.choices"),
        "section": _text(data.get("section"), f"{field}.section", 200) or None,
        "show_if": data.get("show_if") or None,
    }
    low, high = cleaned["min_value"], cleaned["max_value"]
    if low is not None and high is not None and low > high:
        raise invalid(_l("El mínimo no puede ser mayor que el máximo."), f"{field}.min")
    if kind in CHOICE_KINDS:
        needed = 2
        if len(cleaned["choices"]) < needed:
            raise invalid(_l("Escribe al menos %(n)s opciones.", n=needed), f"{field}.choices")
    elif cleaned["choices"]:
        raise invalid(_l("Este tipo de pregunta no lleva opciones."), f"{field}.choices")
    if kind == QuestionKind.multiple_choice:
        for name in ("min_value", "max_value"):
            value = cleaned[name]
            if value is not None and (value != int(value) or not 0 <= value <= len(cleaned["choices"])):
                raise invalid(
                    _l("Las selecciones deben estar entre 0 y el número de opciones."),
                    f"{field}.{name[:3]}",
                )
    elif kind == QuestionKind.pairwise:
        value = cleaned["min_value"]
        if value is not None and (value != int(value) or not 1 <= value <= 1000):
            raise invalid(_l("Las comparaciones mínimas deben estar entre 1 y 1000."), f"{field}.min")
        cleaned["min_value"] = value or MIN_PAIRWISE_COMPARISONS
        cleaned["max_value"] = None
    elif kind == QuestionKind.rating:
        scale_min = data.get("scale_min", 1)
        scale_max = data.get("scale_max", 5)
        scale_min = 1 if scale_min in (None, "") else scale_min
        scale_max = 5 if scale_max in (None, "") else scale_max
        try:
            scale_min, scale_max = int(scale_min), int(scale_max)
        except (TypeError, ValueError):
            raise invalid(_l("La escala va de un entero a otro."), f"{field}.scale_min") from None
        if not (0 <= scale_min <= 1 and scale_min < scale_max <= 10):
            raise invalid(_l("La escala empieza en 0 o 1 y termina entre 2 y 10."), f"{field}.scale_max")
        cleaned["scale_min"], cleaned["scale_max"] = scale_min, scale_max
        cleaned["min_value"] = cleaned["max_value"] = None
    elif kind != QuestionKind.number:
        cleaned["min_value"] = cleaned["max_value"] = None
    return cleaned


def _resolve_show_if(question: SurveyQuestion, raw: Any, earlier: list[SurveyQuestion], field: str) -> None:
    """Turn `{"question": <id, or 1-based number among earlier questions>, "choices": [ids or
    labels]}` or `{"question": n, "min": x, "max": y}` into ids of earlier questions."""
    question._condition = None
    if not raw:
        question.show_if = None
        return
    if not isinstance(raw, Mapping):
        raise invalid(_l("La condición no es válida."), f"{field}.show_if")
    ref = raw.get("question")
    target = None
    for candidate in earlier:
        if candidate.id is not None and candidate.id == ref:
            target = candidate
    if target is None and isinstance(ref, int) and not isinstance(ref, bool) and 1 <= ref <= len(earlier):
        target = earlier[ref - 1]
    if target is None:
        raise invalid(_l("La condición debe referirse a una pregunta anterior."), f"{field}.show_if")
    if target.kind in (QuestionKind.single_choice, QuestionKind.multiple_choice):
        wanted = raw.get("choices") or []
        if not isinstance(wanted, list) or not wanted:
            raise invalid(_l("Elige las opciones que muestran esta pregunta."), f"{field}.show_if")
        ids = []
        for entry in wanted:
            match = next((c for c in target.choices if c.id == entry or c.label == entry), None)
            if match is None:
                raise invalid(_l("La condición menciona una opción que no existe."), f"{field}.show_if")
            ids.append(match)
        question._condition = {"question": target, "choices": ids}
    elif target.kind in (QuestionKind.rating, QuestionKind.number):
        low, high = _number(raw.get("min"), f"{field}.show_if"), _number(raw.get("max"), f"{field}.show_if")
        if low is None and high is None:
            raise invalid(_l("Indica el rango de valores que muestra esta pregunta."), f"{field}.show_if")
        question._condition = {"question": target, "min": low, "max": high}
    else:
        raise invalid(
            _l("Las condiciones solo pueden depender de preguntas de opción, escala o número."),
            f"{field}.show_if",
        )


def _freeze_show_if(survey: Survey) -> None:
    """After a flush gives ids: store conditions as plain ids."""
    for question in survey.questions:
        condition = getattr(question, "_condition", None)
        if not condition:
            continue
        question._condition = None
        frozen: dict[str, Any] = {"question": condition["question"].id}
        if "choices" in condition:
            frozen["choices"] = [choice.id for choice in condition["choices"]]
        else:
            frozen["min"], frozen["max"] = condition.get("min"), condition.get("max")
        question.show_if = frozen


def _section_for(survey: Survey, title: str | None) -> SurveySection | None:
    if not title:
        return None
    for section in survey.sections:
        if section.title == title:
            return section
    section = SurveySection(title=title, position=len(survey.sections))
    survey.sections.append(section)
    return section


def _build_question(survey: Survey, cleaned: dict[str, Any]) -> SurveyQuestion:
    question = SurveyQuestion(
        kind=cleaned["kind"],
        prompt=cleaned["prompt"],
        help_text=cleaned["help_text"],
        required=cleaned["required"],
        min_value=cleaned["min_value"],
        max_value=cleaned["max_value"],
        scale_min=cleaned["scale_min"],
        scale_max=cleaned["scale_max"],
        scale_min_label=cleaned["scale_min_label"],
        scale_max_label=cleaned["scale_max_label"],
        position=len(survey.questions),
    )
    question.choices = [
        SurveyChoice(label=label, position=i, status=ChoiceStatus.approved)
        for i, label in enumerate(cleaned["choices"])
    ]
    section = _section_for(survey, cleaned["section"])
    if section is not None:
        question.section_id = section.id
        question._section = section  # resolved after the flush
    return question


def _replace_questions(survey: Survey, raw_questions: Any) -> None:
    if not isinstance(raw_questions, list):
        raise invalid(_l("Las preguntas deben ser una lista."), "questions")
    if len(raw_questions) > MAX_QUESTIONS:
        raise invalid(_l("Máximo %(n)s preguntas.", n=MAX_QUESTIONS), "questions")
    cleaned = [
        clean_question(q if isinstance(q, Mapping) else {}, f"questions.{i}")
        for i, q in enumerate(raw_questions)
    ]
    survey.questions.clear()
    survey.sections.clear()
    db.session.flush()
    built: list[SurveyQuestion] = []
    for i, entry in enumerate(cleaned):
        question = _build_question(survey, entry)
        _resolve_show_if(question, entry["show_if"], built, f"questions.{i}")
        survey.questions.append(question)
        built.append(question)
    db.session.flush()
    for question in survey.questions:
        section = getattr(question, "_section", None)
        if section is not None:
            question.section_id = section.id
    _freeze_show_if(survey)


def create_survey(actor: User | None, institution: Institution, data: Mapping[str, Any]) -> Survey:
    """A draft survey of `institution` with its questions."""
    survey = Survey(
        institution=institution, institution_id=institution.id, created_by_id=actor.id if actor else None
    )
    _apply_settings(survey, data, creating=True)
    db.session.add(survey)
    db.session.flush()
    _replace_questions(survey, data.get("questions") or [])
    audit.record("survey.created", survey, actor=actor, details={"privacy": str(survey.privacy)})
    db.session.commit()
    return get_survey(survey.id)


def update_survey(actor: User | None, survey: Survey, data: Mapping[str, Any]) -> Survey:
    """Change settings (and, before any answer, replace the questions)."""
    if survey.status not in EDITABLE_STATUSES:
        raise DomainError(_l("Esta encuesta ya cerró y no se puede editar."), code="survey_closed")
    _apply_settings(survey, data, creating=False)
    if survey.status == SurveyStatus.open and survey.closes_at <= utcnow():
        raise invalid(_l("El cierre debe ser en el futuro."), "closes_at")
    if "questions" in data and data["questions"] is not None:
        _require_questions_editable(survey)
        _replace_questions(survey, data["questions"])
    survey.updated_at = utcnow()
    audit.record("survey.updated", survey, actor=actor, details={"fields": sorted(data)})
    db.session.commit()
    from surveys.services.lifecycle import sync_close_reminders

    sync_close_reminders(survey)
    db.session.commit()
    return get_survey(survey.id)


# --- the builder's small steps (web pages) ------------------------------------------------------


def add_question(actor: User | None, survey: Survey, data: Mapping[str, Any]) -> SurveyQuestion:
    """Append one question (before any answer)."""
    _require_questions_editable(survey)
    if len(survey.questions) >= MAX_QUESTIONS:
        raise invalid(_l("Máximo %(n)s preguntas.", n=MAX_QUESTIONS), "prompt")
    cleaned = clean_question(data, "question")
    question = _build_question(survey, {**cleaned, "section": None})
    if data.get("section_id"):
        question.section_id = _section_id(survey, data["section_id"])
    earlier = list(survey.questions)
    _resolve_show_if(question, cleaned["show_if"], earlier, "question")
    survey.questions.append(question)
    db.session.flush()
    _freeze_show_if(survey)
    survey.updated_at = utcnow()
    db.session.commit()
    return question


def _section_id(survey: Survey, value: Any) -> int | None:
    try:
        wanted = int(value)
    except (TypeError, ValueError):
        return None
    return wanted if any(s.id == wanted for s in survey.sections) else None


def update_question(actor: User | None, question: SurveyQuestion, data: Mapping[str, Any]) -> SurveyQuestion:
    """Rewrite one question (before any answer). Choices keep their ids when labels stay."""
    survey = question.survey
    _require_questions_editable(survey)
    cleaned = clean_question({**data, "kind": data.get("kind", question.kind)}, "question")
    for name in (
        "kind", "prompt", "help_text", "required", "min_value", "max_value",
        "scale_min", "scale_max", "scale_min_label", "scale_max_label",
    ):  # fmt: skip
        setattr(question, name, cleaned[name])
    by_label = {choice.label: choice for choice in question.choices}
    question.choices = [
        by_label.get(label) or SurveyChoice(label=label, status=ChoiceStatus.approved)
        for label in cleaned["choices"]
    ]
    for i, choice in enumerate(question.choices):
        choice.position = i
    if "section_id" in data:
        question.section_id = _section_id(survey, data.get("section_id"))
    earlier = [q for q in survey.questions if q.position < question.position]
    _resolve_show_if(question, cleaned["show_if"], earlier, "question")
    db.session.flush()
    _freeze_show_if(survey)
    _drop_broken_conditions(survey)
    survey.updated_at = utcnow()
    db.session.commit()
    return question


def _drop_broken_conditions(survey: Survey) -> None:
    """Conditions that point at a removed/later question or a removed choice are dropped."""
    positions = {q.id: q for q in survey.questions}
    for question in survey.questions:
        condition = question.show_if
        if not condition:
            continue
        target = positions.get(condition.get("question"))
        if target is None or target.position >= question.position:
            question.show_if = None
            continue
        if "choices" in condition:
            kept = [c.id for c in target.choices if c.id in condition["choices"]]
            question.show_if = {**condition, "choices": kept} if kept else None


def delete_question(actor: User | None, question: SurveyQuestion) -> None:
    """Remove one question (before any answer)."""
    survey = question.survey
    _require_questions_editable(survey)
    survey.questions.remove(question)
    for i, q in enumerate(survey.questions):
        q.position = i
    db.session.flush()
    _drop_broken_conditions(survey)
    db.session.commit()


def move_question(actor: User | None, question: SurveyQuestion, delta: int) -> None:
    """Move a question up (-1) or down (+1)."""
    survey = question.survey
    _require_questions_editable(survey)
    ordered = list(survey.questions)
    index = ordered.index(question)
    target = index + delta
    if not 0 <= target < len(ordered):
        return
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for i, q in enumerate(ordered):
        q.position = i
    db.session.flush()
    _drop_broken_conditions(survey)
    db.session.commit()


def add_section(actor: User | None, survey: Survey, title: str, description: str = "") -> SurveySection:
    """A new section (page) at the end."""
    _require_questions_editable(survey)
    section = SurveySection(
        title=_text(title, "title", 200, required=True),
        description=_text(description, "description", 2000),
        position=len(survey.sections),
    )
    survey.sections.append(section)
    db.session.commit()
    return section


def delete_section(actor: User | None, section: SurveySection) -> None:
    """Remove a section; its questions stay, outside any section."""
    survey = section.survey
    _require_questions_editable(survey)
    for question in survey.questions:
        if question.section_id == section.id:
            question.section_id = None
    survey.sections.remove(section)
    db.session.commit()


def duplicate_survey(actor: User | None, survey: Survey) -> Survey:
    """A draft copy (settings, sections, questions, approved choices, conditions), no answers."""
    copy = Survey(
        institution_id=survey.institution_id,
        title=str(_l("%(title)s (copia)", title=survey.title))[:200],
        description=survey.description,
        privacy=survey.privacy,
        status=SurveyStatus.draft,
        opens_at=None,
        closes_at=max(survey.closes_at, utcnow() + timedelta(days=14)),
        timezone=survey.timezone,
        live_results=survey.live_results,
        invitation_only=survey.invitation_only,
        suppression_threshold=survey.suppression_threshold,
        created_by_id=actor.id if actor else None,
        duplicated_from_id=survey.id,
    )
    db.session.add(copy)
    sections = {}
    for section in survey.sections:
        new = SurveySection(title=section.title, description=section.description, position=section.position)
        copy.sections.append(new)
        sections[section.id] = new
    db.session.flush()
    question_map: dict[int, SurveyQuestion] = {}
    choice_map: dict[int, SurveyChoice] = {}
    for question in survey.questions:
        new_q = SurveyQuestion(
            kind=question.kind,
            prompt=question.prompt,
            help_text=question.help_text,
            required=question.required,
            min_value=question.min_value,
            max_value=question.max_value,
            scale_min=question.scale_min,
            scale_max=question.scale_max,
            scale_min_label=question.scale_min_label,
            scale_max_label=question.scale_max_label,
            position=question.position,
            section_id=sections[question.section_id].id if question.section_id in sections else None,
        )
        for choice in question.approved_choices:
            new_c = SurveyChoice(label=choice.label, position=choice.position, status=ChoiceStatus.approved)
            new_q.choices.append(new_c)
            choice_map[choice.id] = new_c
        copy.questions.append(new_q)
        question_map[question.id] = new_q
    db.session.flush()
    for question in survey.questions:
        condition = question.show_if
        if condition and condition.get("question") in question_map:
            frozen = {**condition, "question": question_map[condition["question"]].id}
            if "choices" in condition:
                frozen["choices"] = [choice_map[c].id for c in condition["choices"] if c in choice_map]
            question_map[question.id].show_if = frozen
    audit.record("survey.duplicated", copy, actor=actor, details={"from": survey.id})
    db.session.commit()
    return get_survey(copy.id)
