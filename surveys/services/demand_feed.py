"""Feeding demand: every `dataset_demand` answer becomes a `survey` signal through
`demand.services` (the only door): a whole sync or close passes all its origins to
`replace_many_signals` in one call, so the items are locked lowest id first across the survey
and two syncs over the same items never deadlock.

Identified and pseudonymous surveys: one origin per respondent,
``survey:<id>:<respondent key>``, with sector, state and intended use (and the person only
when identified). Anonymous surveys: keyed by the HMAC only until the close; then the
per-respondent signals are replaced by counts without any person, one origin per wanted
dataset and intended use, ``survey:<id>:total:<dataset>:<use>``, weight = respondents.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from sqlalchemy import select

from core.extensions import db
from demand.models import SignalSource
from demand.services import (
    OriginSignals,
    WantedDataset,
    normalized_title,
    replace_many_signals,
    replace_signals,
)
from surveys.models import Privacy, QuestionKind, Survey, SurveyResponse
from surveys.services.common import get_survey


def respondent_ref(survey: Survey, key: str) -> str:
    return f"survey:{survey.id}:{key}"


def _wanted(survey: Survey, answers: dict[str, Any]) -> list[WantedDataset]:
    wanted: list[WantedDataset] = []
    for question in survey.questions:
        if question.kind != QuestionKind.dataset_demand:
            continue
        value = answers.get(str(question.id))
        if not value:
            continue
        for dataset_id in value.get("datasets", []):
            wanted.append(WantedDataset(dataset_id=dataset_id))
        for new in value.get("new", []):
            wanted.append(WantedDataset(title=new["title"], description=new.get("description") or None))
    return wanted


def _demand_questions(survey: Survey) -> bool:
    return any(q.kind == QuestionKind.dataset_demand for q in survey.questions)


def sync_survey_demand(survey_id: int) -> int:
    """Make the survey's signals match its current answer sets (safe to run twice); the
    number of origins written. Withdrawn answer sets are removed when withdrawn."""
    survey = get_survey(survey_id)
    if survey is None or not _demand_questions(survey):
        return 0
    # Share-lock the survey: a close (FOR UPDATE) waits for this sync, and a sync after it
    # sees the anonymous survey's key gone instead of writing per-respondent signals again.
    key = db.session.execute(
        select(Survey.hmac_key).where(Survey.id == survey.id).with_for_update(read=True)
    ).scalar_one_or_none()
    if survey.privacy == Privacy.anonymous and key is None:
        db.session.commit()
        return 0  # aggregated at the close; nothing personal left to sync
    responses = db.session.execute(
        select(SurveyResponse).where(SurveyResponse.survey_id == survey.id).order_by(SurveyResponse.id)
    ).scalars()
    anonymous = survey.privacy == Privacy.anonymous
    origins = [
        OriginSignals(
            source=SignalSource.survey,
            ref=respondent_ref(survey, response.respondent_key),
            wanted=tuple(_wanted(survey, response.answers or {})),
            user_id=response.user_id if survey.privacy == Privacy.identified else None,
            sector=None if anonymous else response.sector,
            state=None if anonymous else response.state,
            intended_use=response.intended_use,
        )
        for response in responses
    ]
    replace_many_signals(survey.institution_id, origins)
    db.session.commit()
    return len(origins)


def withdraw_respondent_demand(survey: Survey, key: str) -> None:
    """Remove what one respondent's answer set said (inside the caller's transaction)."""
    if _demand_questions(survey):
        replace_signals(survey.institution_id, SignalSource.survey, respondent_ref(survey, key), [])


def _dataset_key(wanted: WantedDataset) -> str:
    if wanted.dataset_id is not None:
        return f"d{wanted.dataset_id}"
    return "t" + hashlib.sha256(normalized_title(wanted.title or "").encode()).hexdigest()[:16]


def aggregate_anonymous_demand(survey: Survey) -> None:
    """At an anonymous close: per-respondent signals out, counts per dataset and use in."""
    if not _demand_questions(survey):
        return
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[str, WantedDataset] = {}
    origins: list[OriginSignals] = []
    responses = db.session.execute(
        select(SurveyResponse).where(SurveyResponse.survey_id == survey.id)
    ).scalars()
    for response in responses:
        # Withdrawn in the same call as the counts come in: one lock order for every item.
        origins.append(
            OriginSignals(source=SignalSource.survey, ref=respondent_ref(survey, response.respondent_key))
        )
        seen = set()
        for wanted in _wanted(survey, response.answers or {}):
            key = _dataset_key(wanted)
            if key in seen:
                continue
            seen.add(key)
            examples.setdefault(key, wanted)
            counts[(key, response.intended_use or "other")] += 1
    origins += [
        OriginSignals(
            source=SignalSource.survey,
            ref=f"survey:{survey.id}:total:{key}:{use}",
            wanted=(examples[key],),
            weight=weight,
            intended_use=use,
        )
        for (key, use), weight in sorted(counts.items())
    ]
    replace_many_signals(survey.institution_id, origins)
