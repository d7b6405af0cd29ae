"""Exports: answers as CSV or XLSX (identities only for identified surveys), results as
JSON with a data dictionary. Surveys over the limit (10,000 answer sets) are exported by
the worker, which reports progress on a `SurveyExport` row."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.celery_app import publish
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import to_zone, utcnow
from demand.models import Dataset
from surveys.models import ExportStatus, Privacy, QuestionKind, Survey, SurveyExport, SurveyResponse
from surveys.services.common import get_survey
from surveys.services.responses import respondent_count

log = logging.getLogger(__name__)

SYNC_LIMIT = 10_000
PROGRESS_EVERY = 500
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class ExportFile:
    filename: str
    mimetype: str
    content: bytes


def _safe(value: Any) -> Any:
    """Spreadsheet-formula-safe text (a leading =, +, -, @ is quoted)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def header(survey: Survey) -> list[str]:
    columns = [_("Respuesta")]
    if survey.privacy == Privacy.identified:
        columns += [_("Nombre"), _("Correo"), _("Respondida")]
    columns += [_("Sector"), _("Estado"), _("Uso previsto")]
    for i, question in enumerate(_exported_questions(survey), start=1):
        columns.append(f"P{i}. {question.prompt}")
    return columns


def _exported_questions(survey: Survey):
    return [q for q in survey.questions if q.kind != QuestionKind.pairwise]


def _cell(question, value: Any, labels: dict[int, str], titles: dict[int, str]) -> Any:
    if value is None:
        return ""
    kind = question.kind
    if kind == QuestionKind.single_choice:
        return labels.get(value, "")
    if kind == QuestionKind.multiple_choice:
        return "; ".join(labels.get(v, "") for v in value)
    if kind == QuestionKind.ranking:
        return "; ".join(f"{i}. {labels.get(v, '')}" for i, v in enumerate(value, start=1))
    if kind == QuestionKind.dataset_demand:
        parts = [titles.get(d, "?") for d in value.get("datasets", [])]
        parts += [_("(nuevo) %(title)s", title=n["title"]) for n in value.get("new", [])]
        return "; ".join(parts)
    return value


def rows(survey: Survey, *, progress=None) -> Iterator[list[Any]]:
    """One row per answer set, in a stable but meaningless order (random ids)."""
    labels = {c.id: c.label for q in survey.questions for c in q.choices}
    titles = dict(
        db.session.execute(
            select(Dataset.id, Dataset.title).where(Dataset.institution_id == survey.institution_id)
        ).all()
    )
    questions = _exported_questions(survey)
    identified = survey.privacy == Privacy.identified
    users: dict[int, User] = {}
    query = (
        select(SurveyResponse)
        .where(SurveyResponse.survey_id == survey.id)
        .order_by(SurveyResponse.id)
        .execution_options(yield_per=1000)
    )
    for number, response in enumerate(db.session.execute(query).scalars(), start=1):
        row: list[Any] = [number]
        if identified:
            user = None
            if response.user_id is not None:
                user = users.get(response.user_id) or db.session.get(User, response.user_id)
                users[response.user_id] = user
            row += [
                user.name if user else "",
                user.email if user and user.deleted_at is None else "",
                to_zone(response.updated_at, survey.timezone).strftime("%Y-%m-%d %H:%M"),
            ]
        row += [response.sector or "", response.state or "", response.intended_use or ""]
        answers = response.answers or {}
        for question in questions:
            row.append(_safe(_cell(question, answers.get(str(question.id)), labels, titles)))
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(number)
        yield [_safe(v) for v in row]


def csv_bytes(survey: Survey, progress=None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_safe(c) for c in header(survey)])
    for row in rows(survey, progress=progress):
        writer.writerow(row)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(survey: Survey, progress=None) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = workbook.add_worksheet(_("Respuestas")[:31])
    bold = workbook.add_format({"bold": True})
    for column, title in enumerate(header(survey)):
        sheet.write_string(0, column, title, bold)
    for r, row in enumerate(rows(survey, progress=progress), start=1):
        for column, value in enumerate(row):
            if isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(r, column, value)
            else:
                sheet.write_string(r, column, str(value))
    dictionary = workbook.add_worksheet(_("Diccionario")[:31])
    for r, entry in enumerate(data_dictionary(survey)["questions"]):
        dictionary.write_string(r, 0, f"P{r + 1}")
        dictionary.write_string(r, 1, entry["prompt"])
        dictionary.write_string(r, 2, entry["kind"])
        dictionary.write_string(r, 3, entry["values"])
    workbook.close()
    return buffer.getvalue()


def _filename(survey: Survey, fmt: str) -> str:
    return f"encuesta-{survey.id}-respuestas.{fmt}"


def build_file(survey: Survey, fmt: str, progress=None) -> ExportFile:
    content = csv_bytes(survey, progress) if fmt == "csv" else xlsx_bytes(survey, progress)
    return ExportFile(_filename(survey, fmt), MIMETYPES[fmt], content)


def request_export(actor: User | None, survey: Survey, fmt: str) -> ExportFile | SurveyExport:
    """The file now when small; otherwise a queued worker export to poll."""
    if fmt not in MIMETYPES:
        raise DomainError(_l("Formato desconocido."), status=422, field="format")
    total = respondent_count(survey)
    if total <= current_app.config.get("SURVEY_EXPORT_SYNC_LIMIT", SYNC_LIMIT):
        return build_file(survey, fmt)
    export = SurveyExport(
        survey_id=survey.id, requested_by_id=actor.id if actor else None, format=fmt, total=total
    )
    db.session.add(export)
    db.session.commit()
    try:
        publish("surveys.build_export", [export.id])
    except Exception:  # noqa: BLE001 - the row stays pending; the page offers a retry
        log.warning("could not enqueue export %s", export.id)
    return export


def build_export(export_id: int) -> str:
    """Worker: build a queued export, saving progress as it goes (safe to run twice)."""
    export = db.session.get(SurveyExport, export_id)
    if export is None or export.status == ExportStatus.ready:
        return "skipped"
    survey = get_survey(export.survey_id)
    export.status = ExportStatus.running
    export.progress = 0
    db.session.commit()
    engine_session = db.session

    def progress(done: int) -> None:
        # A separate connection so the long read keeps its snapshot.
        with db.engine.begin() as conn:
            conn.execute(
                SurveyExport.__table__.update().where(SurveyExport.id == export_id).values(progress=done)
            )

    try:
        built = build_file(survey, export.format, progress)
    except Exception as exc:
        engine_session.rollback()
        export = db.session.get(SurveyExport, export_id)
        export.status = ExportStatus.failed
        export.error = str(exc)[:2000]
        db.session.commit()
        raise
    export = db.session.get(SurveyExport, export_id)
    export.content = built.content
    export.filename = built.filename
    export.progress = export.total
    export.status = ExportStatus.ready
    export.finished_at = utcnow()
    db.session.commit()
    return "ready"


def get_export(survey: Survey, export_id: int) -> SurveyExport | None:
    export = db.session.get(SurveyExport, export_id)
    return export if export is not None and export.survey_id == survey.id else None


def latest_exports(survey: Survey) -> list[SurveyExport]:
    return list(
        db.session.execute(
            select(SurveyExport)
            .where(SurveyExport.survey_id == survey.id)
            .order_by(SurveyExport.id.desc())
            .limit(5)
        ).scalars()
    )


VALUE_DESCRIPTIONS = {
    QuestionKind.single_choice: "options[].count: respondents who chose it; percent of those answering",
    QuestionKind.multiple_choice: "options[].count: respondents who ticked it (several per person)",
    QuestionKind.ranking: "options[].borda: Borda score (n-1 points for first … 0); count: times ranked",
    QuestionKind.rating: "options[]: distribution per scale value; mean",
    QuestionKind.short_text: "texts: answers approved by moderation",
    QuestionKind.long_text: "texts: answers approved by moderation",
    QuestionKind.number: "median, q1, q3 (quartiles), min, max, mean",
    QuestionKind.dataset_demand: (
        "options[]: catalogue datasets chosen; new_datasets: proposed names approved by "
        "moderation; intended_uses[]: what respondents want the data for"
    ),
    QuestionKind.pairwise: (
        "ideas[]: score = estimated chance (0-100) to beat a random other idea (Bradley-Terry), "
        "low/high = 95% bootstrap interval, comparisons, wins, ranked (enough comparisons)"
    ),
}


def data_dictionary(survey: Survey) -> dict[str, Any]:
    """What every field of the results document means."""
    return {
        "fields": {
            "respondents": "answer sets submitted",
            "questions[].answered": "respondents who answered the question (the base of percent)",
            "questions[].options[]": "id, label, count, percent (0-100, one decimal)",
            "breakdowns.sector|state.<group>": (
                "respondents and per-question option counts in the group; 'unstated' = not given"
            ),
            "suppressed values": (
                f'"<{survey.suppression_threshold}": a count under the threshold; "suppressed": hidden so '
                "that a small count cannot be worked out from the totals; percent is null when hidden"
            ),
        },
        "questions": [
            {
                "id": q.id,
                "prompt": q.prompt,
                "kind": str(q.kind),
                "values": VALUE_DESCRIPTIONS[QuestionKind(q.kind)],
                "choices": [{"id": c.id, "label": c.label} for c in q.approved_choices],
            }
            for q in survey.questions
        ],
    }
