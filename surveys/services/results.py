"""Results: counts and percentages per option, Borda scores for rankings, rating
distributions and means, medians and quartiles of numbers, moderated free text, the
wiki-survey scores, and breakdowns by sector and state with small-cell suppression.

Every figure comes from a handful of GROUP BY queries over `survey_answer`, whatever the
number of answers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.choices import SECTOR_LABELS
from core.extensions import db
from demand.models import Dataset
from surveys.models import (
    Moderation,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
    SurveyStatus,
)
from surveys.services.common import INTENDED_USE_LABELS
from surveys.suppression import suppress_counts, suppress_table

UNSTATED = "unstated"
BREAKDOWN_KINDS = {
    QuestionKind.single_choice,
    QuestionKind.multiple_choice,
    QuestionKind.rating,
    QuestionKind.dataset_demand,
}
TEXTS_SHOWN = 200


def _percent(count: int, base: int) -> float:
    return round(100.0 * count / base, 1) if base else 0.0


def may_see_results(user: Any, survey: Survey) -> bool:
    """Published results are public; live results when the institution opted in; managers always."""
    from core.permissions import can

    if survey.status == SurveyStatus.published:
        return True
    if survey.live_results and survey.status in (SurveyStatus.open, SurveyStatus.closed):
        return True
    return can(user, "surveys.manage", survey)


def _choice_counts(survey_id: int, group_column=None) -> dict:
    """{(group, question_id, choice_id): (count, position sum)} for choice answers."""
    columns = [SurveyAnswer.question_id, SurveyAnswer.choice_id]
    query = select(
        *([group_column] if group_column is not None else []),
        *columns,
        func.count(),
        func.coalesce(func.sum(SurveyAnswer.position), 0),
    ).where(SurveyAnswer.survey_id == survey_id, SurveyAnswer.choice_id.is_not(None))
    if group_column is not None:
        query = query.join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
    query = query.group_by(*([group_column] if group_column is not None else []), *columns)
    result = {}
    for row in db.session.execute(query):
        if group_column is not None:
            group, question_id, choice_id, count, position_sum = row
        else:
            group = None
            question_id, choice_id, count, position_sum = row
        result[(group or (UNSTATED if group_column is not None else None), question_id, choice_id)] = (
            count,
            int(position_sum),
        )
    return result


def _value_counts(survey_id: int, group_column=None) -> dict:
    """{(group, question_id, value): count} for numbers (ratings) and catalogue datasets."""
    result: dict = {}
    for value_column in (SurveyAnswer.number, SurveyAnswer.dataset_id):
        query = select(
            *([group_column] if group_column is not None else []),
            SurveyAnswer.question_id,
            value_column,
            func.count(),
        ).where(SurveyAnswer.survey_id == survey_id, value_column.is_not(None))
        if group_column is not None:
            query = query.join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        query = query.group_by(
            *([group_column] if group_column is not None else []), SurveyAnswer.question_id, value_column
        )
        for row in db.session.execute(query):
            if group_column is not None:
                group, question_id, value, count = row
                group = group or UNSTATED
            else:
                group = None
                question_id, value, count = row
            result[
                (group, question_id, ("n", value) if value_column is SurveyAnswer.number else ("d", value))
            ] = count
    return result


def _answered(survey_id: int, group_column=None) -> dict:
    """{(group, question_id): respondents who answered}."""
    query = select(
        *([group_column] if group_column is not None else []),
        SurveyAnswer.question_id,
        func.count(func.distinct(SurveyAnswer.response_id)),
    ).where(SurveyAnswer.survey_id == survey_id)
    if group_column is not None:
        query = query.join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
    query = query.group_by(*([group_column] if group_column is not None else []), SurveyAnswer.question_id)
    result = {}
    for row in db.session.execute(query):
        if group_column is not None:
            group, question_id, count = row
            result[(group or UNSTATED, question_id)] = count
        else:
            question_id, count = row
            result[(None, question_id)] = count
    return result


def _quartiles(survey_id: int, question_id: int) -> dict[str, float | None]:
    if db.engine.dialect.name == "postgresql":
        row = db.session.execute(
            select(
                func.percentile_cont(0.25).within_group(SurveyAnswer.number),
                func.percentile_cont(0.5).within_group(SurveyAnswer.number),
                func.percentile_cont(0.75).within_group(SurveyAnswer.number),
                func.min(SurveyAnswer.number),
                func.max(SurveyAnswer.number),
                func.avg(SurveyAnswer.number),
            ).where(
                SurveyAnswer.question_id == question_id,
                SurveyAnswer.survey_id == survey_id,
                SurveyAnswer.number.is_not(None),
            )
        ).one()
        q1, median, q3, low, high, mean = row
    else:
        values = sorted(
            db.session.execute(
                select(SurveyAnswer.number).where(
                    SurveyAnswer.question_id == question_id,
                    SurveyAnswer.survey_id == survey_id,
                    SurveyAnswer.number.is_not(None),
                )
            ).scalars()
        )
        if not values:
            return {"median": None, "q1": None, "q3": None, "min": None, "max": None, "mean": None}
        if len(values) == 1:
            q1 = median = q3 = values[0]
        else:
            q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        low, high, mean = values[0], values[-1], sum(values) / len(values)
    return {
        "median": _round(median),
        "q1": _round(q1),
        "q3": _round(q3),
        "min": _round(low),
        "max": _round(high),
        "mean": _round(mean),
    }


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _scale_label(question: SurveyQuestion, value: int) -> str:
    if value == question.scale_min and question.scale_min_label:
        return f"{value} ({question.scale_min_label})"
    if value == question.scale_max and question.scale_max_label:
        return f"{value} ({question.scale_max_label})"
    return str(value)


def _dataset_titles(survey: Survey) -> dict[int, str]:
    return dict(
        db.session.execute(
            select(Dataset.id, Dataset.title).where(Dataset.institution_id == survey.institution_id)
        ).all()
    )


def _options(
    survey: Survey,
    question: SurveyQuestion,
    choice_counts: dict,
    value_counts: dict,
    group: Any,
    base: int,
    titles: dict[int, str],
) -> list[dict[str, Any]]:
    kind = question.kind
    if kind in (QuestionKind.single_choice, QuestionKind.multiple_choice, QuestionKind.ranking):
        options = []
        n = len(question.approved_choices)
        for choice in question.approved_choices:
            count, position_sum = choice_counts.get((group, question.id, choice.id), (0, 0))
            option = {
                "id": choice.id,
                "label": choice.label,
                "count": count,
                "percent": _percent(count, base),
            }
            if kind == QuestionKind.ranking:
                # Borda: n-1 points for first place, down to 0; unranked options score 0.
                option["borda"] = count * (n - 1) - position_sum
                option["average_position"] = round(position_sum / count + 1, 2) if count else None
            options.append(option)
        if kind == QuestionKind.ranking:
            options.sort(key=lambda o: (-o["borda"], o["label"]))
        return options
    if kind == QuestionKind.rating:
        return [
            {
                "id": value,
                "label": _scale_label(question, value),
                "count": (count := value_counts.get((group, question.id, ("n", float(value))), 0)),
                "percent": _percent(count, base),
            }
            for value in range(question.scale_min, question.scale_max + 1)
        ]
    if kind == QuestionKind.dataset_demand:
        options = []
        for (g, qid, (tag, value)), count in value_counts.items():
            if g == group and qid == question.id and tag == "d":
                options.append(
                    {
                        "id": value,
                        "label": titles.get(value, "?"),
                        "count": count,
                        "percent": _percent(count, base),
                    }
                )
        options.sort(key=lambda o: (-o["count"], o["label"]))
        return options
    return []


def _texts(survey: Survey) -> dict[int, list[str]]:
    texts: dict[int, list[str]] = defaultdict(list)
    rows = db.session.execute(
        select(SurveyAnswer.question_id, SurveyAnswer.text)
        .where(
            SurveyAnswer.survey_id == survey.id,
            SurveyAnswer.moderation == Moderation.approved,
            SurveyAnswer.dataset_id.is_(None),
            SurveyAnswer.text.is_not(None),
        )
        .order_by(SurveyAnswer.id)
    )
    for question_id, text in rows:
        if len(texts[question_id]) < TEXTS_SHOWN:
            texts[question_id].append(text)
    return texts


def _respondents(survey: Survey, group_column=None) -> dict:
    query = select(*([group_column] if group_column is not None else []), func.count()).where(
        SurveyResponse.survey_id == survey.id
    )
    if group_column is not None:
        query = query.group_by(group_column)
        return {(group or UNSTATED): count for group, count in db.session.execute(query)}
    return {None: db.session.execute(query).scalar_one()}


def _uses(survey: Survey) -> list[dict[str, Any]]:
    from demand.models import IntendedUse

    counts = dict(
        db.session.execute(
            select(SurveyResponse.intended_use, func.count())
            .where(SurveyResponse.survey_id == survey.id, SurveyResponse.intended_use.is_not(None))
            .group_by(SurveyResponse.intended_use)
        ).all()
    )
    total = sum(counts.values())
    return [
        {
            "id": use.value,
            "label": str(INTENDED_USE_LABELS[use]),
            "count": counts.get(use.value, 0),
            "percent": _percent(counts.get(use.value, 0), total),
        }
        for use in IntendedUse
    ]


def compute_results(survey: Survey) -> dict[str, Any]:
    """The whole results document (the API's shape; pages render the same data)."""
    from surveys.services.wiki import idea_scores

    respondents = _respondents(survey)[None]
    choice_counts = _choice_counts(survey.id)
    value_counts = _value_counts(survey.id)
    answered = _answered(survey.id)
    titles = _dataset_titles(survey)
    texts = _texts(survey)
    questions = []
    for question in survey.questions:
        base = answered.get((None, question.id), 0)
        entry: dict[str, Any] = {
            "id": question.id,
            "kind": str(question.kind),
            "prompt": question.prompt,
            "answered": base,
            "options": _options(survey, question, choice_counts, value_counts, None, base, titles),
        }
        if question.kind == QuestionKind.rating:
            total = sum(o["count"] for o in entry["options"])
            entry["mean"] = (
                round(sum(o["id"] * o["count"] for o in entry["options"]) / total, 2) if total else None
            )
            entry["scale_min"], entry["scale_max"] = question.scale_min, question.scale_max
        elif question.kind == QuestionKind.number:
            entry.update(_quartiles(survey.id, question.id))
        elif question.kind in (QuestionKind.short_text, QuestionKind.long_text):
            entry["texts"] = texts.get(question.id, [])
        elif question.kind == QuestionKind.dataset_demand:
            entry["new_datasets"] = texts.get(question.id, [])
            entry["intended_uses"] = _uses(survey)
        elif question.kind == QuestionKind.pairwise:
            entry["ideas"] = idea_scores(question)
            entry["answered"] = None
        questions.append(entry)
    return {
        "survey": survey.id,
        "status": str(survey.status),
        "respondents": respondents,
        "suppression_threshold": survey.suppression_threshold,
        "questions": questions,
        "breakdowns": {
            "sector": _breakdown(survey, SurveyResponse.sector, titles, choice_counts, value_counts),
            "state": _breakdown(survey, SurveyResponse.state, titles, choice_counts, value_counts),
        },
    }


def _breakdown(survey: Survey, column, titles, overall_choices, overall_values) -> dict[str, Any]:
    """Per group: respondents and option counts, suppressed so no small group shows."""
    threshold = survey.suppression_threshold
    respondents = _respondents(survey, column)
    shown_respondents = suppress_counts(respondents, threshold)
    hidden_groups = [g for g, v in shown_respondents.items() if isinstance(v, str)]
    choice_counts = _choice_counts(survey.id, column)
    value_counts = _value_counts(survey.id, column)
    groups = sorted(respondents)
    per_group: dict[str, dict[str, Any]] = {
        group: {"respondents": shown_respondents[group], "questions": []} for group in groups
    }
    for question in survey.questions:
        if question.kind not in BREAKDOWN_KINDS:
            continue
        options_by_group = {
            group: _options(survey, question, choice_counts, value_counts, group, respondents[group], titles)
            for group in groups
        }
        labels: dict[Any, str] = {}
        table: dict[str, dict[Any, int]] = {}
        for group in groups:
            table[group] = {}
            for option in options_by_group[group]:
                table[group][option["id"]] = option["count"]
                labels[option["id"]] = option["label"]
        columns = list(labels)
        for group in groups:
            for column_id in columns:
                table[group].setdefault(column_id, 0)
        shown = suppress_table(table, threshold, hidden_rows=hidden_groups).cells if columns else {}
        for group in groups:
            options = []
            for column_id in columns:
                value = shown[group][column_id]
                options.append(
                    {
                        "id": column_id,
                        "label": labels[column_id],
                        "count": value,
                        "percent": None if isinstance(value, str) else _percent(value, respondents[group]),
                    }
                )
            per_group[group]["questions"].append(
                {"id": question.id, "kind": str(question.kind), "options": options}
            )
    return per_group


def group_label(dimension: str, group: str) -> str:
    """A breakdown group's name for people."""
    if group == UNSTATED:
        return str(_l("Sin dato"))
    if dimension == "sector":
        from core.choices import Sector

        try:
            return str(SECTOR_LABELS[Sector(group)])
        except ValueError:
            return group
    return group
