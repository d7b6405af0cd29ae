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
from sqlalchemy import case, func, literal_column, or_, select

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


Tally = dict[tuple[str | None, str | None, int, tuple[str, Any]], tuple[int, int, int]]


# survey_answer.profile_key on PostgreSQL (migration 02e07ba2ae7b): the answer set's sector and
# state as one integer, so the tally hashes an integer per row instead of two strings.
PROFILE_KEY_SQL = "hashtext(coalesce(sector, '') || '|' || coalesce(state, ''))"
Profiles = dict[int, tuple[str, str]]


def _tally_rows(
    survey: Survey, profile_keys: Profiles | None
) -> tuple[Tally, dict[int, list[tuple[float, int]]]]:
    """Every count the results need, from one GROUP BY at the finest grain (profile,
    question, value) rolled up here to overall, by sector and by state: the groups are few
    (sectors x states x options), so the database scans the answers once.

    The profile is `profile_key` when `profile_keys` names each key's (sector, state) (see
    `_profiles`), else the two strings. Keyed by (dimension, group, question id, ("c", choice)
    | ("n", rating value) | ("d", dataset) | ("t", None)); values are (rows, sum of positions,
    respondents). Number questions are not broken down: the same statement groups their rows
    by value alone (profile left out), which gives each one's histogram for `_quartiles`;
    returned beside the tally as {question id: [(value, count), ...]} in value order.
    """
    number_ids = [q.id for q in survey.questions if q.kind == QuestionKind.number] or [-1]
    is_number = SurveyAnswer.question_id.in_(number_ids)
    if profile_keys is not None:
        profile = [case((is_number, None), else_=literal_column("profile_key"))]
    else:
        profile = [
            case((is_number, None), else_=SurveyAnswer.sector),
            case((is_number, None), else_=SurveyAnswer.state),
        ]
    values = [SurveyAnswer.question_id, SurveyAnswer.choice_id, SurveyAnswer.number, SurveyAnswer.dataset_id]
    query = (
        select(
            *profile,
            *values,
            func.count(),
            func.coalesce(func.sum(SurveyAnswer.position), 0),
            func.sum(case((or_(SurveyAnswer.position.is_(None), SurveyAnswer.position == 0), 1), else_=0)),
        )
        .where(SurveyAnswer.survey_id == survey.id)
        .group_by(*profile, *values)
    )
    numbers = set(number_ids)
    histograms: dict[int, list[tuple[float, int]]] = defaultdict(list)
    tally: dict = defaultdict(lambda: [0, 0, 0])
    for row in db.session.execute(query):
        if profile_keys is not None:
            (key_value, question_id, choice_id, number, dataset_id, count, position_sum, first) = row
            if question_id in numbers:
                sector = state = None
            elif key_value not in profile_keys:
                # An answer whose profile no answer set has: count by the strings instead.
                return _tally_rows(survey, None)
            else:
                sector, state = profile_keys[key_value]
        else:
            (sector, state, question_id, choice_id, number, dataset_id, count, position_sum, first) = row
        if question_id in numbers:
            if number is not None:
                histograms[question_id].append((float(number), int(count)))
            continue
        if choice_id is not None:
            key = ("c", choice_id)
        elif number is not None:
            key = ("n", float(number))
        elif dataset_id is not None:
            key = ("d", dataset_id)
        else:
            key = ("t", None)
        for dimension, group in ((None, None), ("sector", sector or UNSTATED), ("state", state or UNSTATED)):
            cell = tally[(dimension, group, question_id, key)]
            cell[0] += count
            cell[1] += int(position_sum)
            cell[2] += int(first or 0)
    for histogram in histograms.values():
        histogram.sort()
    return {key: (a, b, c) for key, (a, b, c) in tally.items()}, dict(histograms)


def _answered_map(tally: Tally) -> dict[tuple[str | None, Any, int], int]:
    """Respondents who answered, per (dimension, group, question)."""
    answered: dict[tuple[str | None, Any, int], int] = defaultdict(int)
    for (dimension, group, question_id, _key), (_count, _sum, first) in tally.items():
        answered[(dimension, group, question_id)] += first
    return answered


HISTOGRAM_LIMIT = 5000


def _percentile(histogram: list[tuple[float, int]], total: int, q: float) -> float:
    """Linear interpolation between closest ranks (what PostgreSQL's percentile_cont does)."""
    position = q * (total - 1)
    below, fraction = int(position), position - int(position)

    def value_at(rank: int) -> float:
        seen = 0
        for value, count in histogram:
            seen += count
            if rank < seen:
                return value
        return histogram[-1][0]

    low = value_at(below)
    return low if fraction == 0 else low + (value_at(below + 1) - low) * fraction


def _quartiles(
    survey_id: int, question_id: int, histogram: list[tuple[float, int]]
) -> dict[str, float | None]:
    """Median, quartiles, min, max and mean of a number question: from its histogram (the
    tally's values and counts, in order) while the distinct values are few, else from the
    sorted values."""
    where = (
        SurveyAnswer.question_id == question_id,
        SurveyAnswer.survey_id == survey_id,
        SurveyAnswer.number.is_not(None),
    )
    if len(histogram) <= HISTOGRAM_LIMIT:
        count = sum(c for _v, c in histogram)
        if not count:
            return {
                "median": None,
                "q1": None,
                "q3": None,
                "min": None,
                "max": None,
                "mean": None,
                "count": 0,
            }
        q1, median, q3 = (_percentile(histogram, count, q) for q in (0.25, 0.5, 0.75))
        low, high = histogram[0][0], histogram[-1][0]
        mean = sum(v * c for v, c in histogram) / count
    elif db.engine.dialect.name == "postgresql":
        q1, median, q3, low, high, mean, count = db.session.execute(
            select(
                func.percentile_cont(0.25).within_group(SurveyAnswer.number),
                func.percentile_cont(0.5).within_group(SurveyAnswer.number),
                func.percentile_cont(0.75).within_group(SurveyAnswer.number),
                func.min(SurveyAnswer.number),
                func.max(SurveyAnswer.number),
                func.avg(SurveyAnswer.number),
                func.count(),
            ).where(*where)
        ).one()
    else:
        values = sorted(db.session.execute(select(SurveyAnswer.number).where(*where)).scalars())
        count = len(values)
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        low, high, mean = values[0], values[-1], sum(values) / count
    return {
        "median": _round(median),
        "q1": _round(q1),
        "q3": _round(q3),
        "min": _round(low),
        "max": _round(high),
        "mean": _round(mean),
        "count": count,
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
    question: SurveyQuestion,
    tally: Tally,
    dimension: str | None,
    group: Any,
    base: int,
    titles: dict[int, str],
) -> list[dict[str, Any]]:
    kind = question.kind

    def get(key) -> tuple[int, int, int]:
        return tally.get((dimension, group, question.id, key), (0, 0, 0))

    if kind in (QuestionKind.single_choice, QuestionKind.multiple_choice, QuestionKind.ranking):
        options = []
        n = len(question.approved_choices)
        for choice in question.approved_choices:
            count, position_sum, _first = get(("c", choice.id))
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
                "count": (count := get(("n", float(value)))[0]),
                "percent": _percent(count, base),
            }
            for value in range(question.scale_min, question.scale_max + 1)
        ]
    if kind == QuestionKind.dataset_demand:
        options = [
            {"id": key[1], "label": titles.get(key[1], "?"), "count": count, "percent": _percent(count, base)}
            for (d, g, q, key), (count, _sum, _first) in tally.items()
            if d == dimension and g == group and q == question.id and key[0] == "d"
        ]
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


def _profiles(
    survey: Survey,
) -> tuple[dict[tuple[str | None, Any], int], dict[str, int], Profiles | None]:
    """Answer sets overall, by sector and by state ({(dimension, group): count}), and per
    intended use; one GROUP BY over the answer sets' profiles. On PostgreSQL also each
    profile's `profile_key` ({key: (sector, state)}), computed over the few groups; None
    elsewhere, or if two different profiles share a key (the tally then groups by strings)."""
    counts: dict[tuple[str | None, Any], int] = defaultdict(int)
    uses: dict[str, int] = defaultdict(int)
    grouped = (
        select(
            SurveyResponse.sector, SurveyResponse.state, SurveyResponse.intended_use, func.count().label("n")
        )
        .where(SurveyResponse.survey_id == survey.id)
        .group_by(SurveyResponse.sector, SurveyResponse.state, SurveyResponse.intended_use)
    )
    keyed = db.engine.dialect.name == "postgresql"
    if keyed:
        groups = grouped.subquery()
        query = select(
            groups.c.sector,
            groups.c.state,
            groups.c.intended_use,
            groups.c.n,
            literal_column(PROFILE_KEY_SQL),
        )
    else:
        query = select(*grouped.subquery().c, literal_column("NULL"))
    profile_keys: Profiles = {}
    counts[(None, None)] = 0
    for sector, state, use, count, key in db.session.execute(query):
        counts[(None, None)] += count
        counts[("sector", sector or UNSTATED)] += count
        counts[("state", state or UNSTATED)] += count
        if use:
            uses[use] += count
        if keyed:
            named = (sector or UNSTATED, state or UNSTATED)
            if profile_keys.setdefault(key, named) != named:
                keyed = False
    return dict(counts), dict(uses), (profile_keys if keyed else None)


def _uses(counts: dict[str, int]) -> list[dict[str, Any]]:
    from demand.models import IntendedUse

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

    respondents, uses, profile_keys = _profiles(survey)
    tally, histograms = _tally_rows(survey, profile_keys)
    answered = _answered_map(tally)
    titles = _dataset_titles(survey)
    texts = _texts(survey)
    questions = []
    for question in survey.questions:
        base = answered.get((None, None, question.id), 0)
        entry: dict[str, Any] = {
            "id": question.id,
            "kind": str(question.kind),
            "prompt": question.prompt,
            "answered": base,
            "options": _options(question, tally, None, None, base, titles),
        }
        if question.kind == QuestionKind.rating:
            total = sum(o["count"] for o in entry["options"])
            entry["mean"] = (
                round(sum(o["id"] * o["count"] for o in entry["options"]) / total, 2) if total else None
            )
            entry["scale_min"], entry["scale_max"] = question.scale_min, question.scale_max
        elif question.kind == QuestionKind.number:
            summary = _quartiles(survey.id, question.id, histograms.get(question.id, []))
            entry["answered"] = summary.pop("count")
            entry.update(summary)
        elif question.kind in (QuestionKind.short_text, QuestionKind.long_text):
            entry["texts"] = texts.get(question.id, [])
        elif question.kind == QuestionKind.dataset_demand:
            entry["new_datasets"] = texts.get(question.id, [])
            entry["intended_uses"] = _uses(uses)
        elif question.kind == QuestionKind.pairwise:
            entry["ideas"] = idea_scores(question)
            entry["answered"] = None
        questions.append(entry)
    return {
        "survey": survey.id,
        "status": str(survey.status),
        "respondents": respondents[(None, None)],
        "suppression_threshold": survey.suppression_threshold,
        "questions": questions,
        "breakdowns": {
            "sector": _breakdown(survey, "sector", respondents, tally, titles),
            "state": _breakdown(survey, "state", respondents, tally, titles),
        },
    }


def _breakdown(survey: Survey, dimension: str, all_respondents: dict, tally: Tally, titles) -> dict[str, Any]:
    """Per group: respondents and option counts, suppressed so no small group shows."""
    threshold = survey.suppression_threshold
    respondents = {group: count for (d, group), count in all_respondents.items() if d == dimension}
    shown_respondents = suppress_counts(respondents, threshold)
    hidden_groups = [g for g, v in shown_respondents.items() if isinstance(v, str)]
    groups = sorted(respondents)
    per_group: dict[str, dict[str, Any]] = {
        group: {"respondents": shown_respondents[group], "questions": []} for group in groups
    }
    for question in survey.questions:
        if question.kind not in BREAKDOWN_KINDS:
            continue
        options_by_group = {
            group: _options(question, tally, dimension, group, respondents[group], titles) for group in groups
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
