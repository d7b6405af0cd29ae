"""The survey lifecycle: draft → open (or scheduled) → closed → results published.

Closing an anonymous survey destroys its HMAC secret in the same transaction that turns
per-respondent demand into counts and strips every remaining link to accounts.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from accounts import services as accounts_services
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from notifications.models import Category, ScheduledNotification
from notifications.services import (
    RenderedReminder,
    cancel_scheduled,
    notify,
    register_renderer,
    schedule,
)
from surveys.models import (
    Privacy,
    Survey,
    SurveyChoice,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyStart,
    SurveyStatus,
    WikiPair,
    WikiVote,
)
from surveys.services.common import get_survey, illegal, respondent_key_for, survey_key

REMINDER_KIND = "surveys.close_reminder"
REMINDER_BEFORE = timedelta(hours=48)


def _lock(survey_id: int) -> Survey:
    survey = db.session.execute(
        select(Survey)
        .where(Survey.id == survey_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if survey is None:
        raise DomainError(_l("Esta encuesta ya no existe."), status=404)
    return survey


def subject_of(survey: Survey | int) -> str:
    return f"survey:{survey if isinstance(survey, int) else survey.id}"


def survey_url(survey: Survey) -> str:
    return external_url("surveys.answer", survey_id=survey.id)


def open_survey(actor: User | None, survey: Survey) -> Survey:
    """Open a draft now, or schedule it when `opens_at` is ahead; followers are told at opening."""
    survey = _lock(survey.id)
    if survey.status != SurveyStatus.draft:
        raise illegal(_l("Solo se puede abrir una encuesta en borrador."))
    if not survey.questions:
        raise DomainError(_l("Agrega al menos una pregunta antes de abrir la encuesta."), code="no_questions")
    now = utcnow()
    if survey.closes_at <= now:
        raise DomainError(_l("La fecha de cierre ya pasó; cámbiala antes de abrir."), code="closes_in_past")
    if survey.opens_at is not None and survey.opens_at > now:
        survey.status = SurveyStatus.scheduled
        audit.record("survey.scheduled", survey, actor=actor)
    else:
        _start(survey, actor)
    survey.updated_at = now
    db.session.commit()
    return get_survey(survey.id)


def _start(survey: Survey, actor: User | None) -> None:
    survey.status = SurveyStatus.open
    survey.opened_at = utcnow()
    audit.record("survey.opened", survey, actor=actor)
    _notify_followers(survey)


def _notify_followers(survey: Survey) -> None:
    follower_ids = accounts_services.follower_ids(survey.institution_id)
    if not follower_ids:
        return
    users = db.session.execute(
        select(User).where(User.id.in_(follower_ids), User.deleted_at.is_(None))
    ).scalars()
    title = survey.title
    for user in users:
        notify(
            to=user,
            kind="surveys.opened",
            subject=_l("Nueva encuesta: «%(title)s»", title=title),
            template="surveys/email/opened",
            dedupe_key=f"survey:{survey.id}:opened:{user.id}",
            category=Category.surveys,
            link=f"/surveys/{survey.id}",
            summary=_l(
                "%(institution)s quiere saber qué datos necesitas.", institution=survey.institution.name
            ),
            context={"survey": survey, "institution": survey.institution, "url": survey_url(survey)},
        )


def close_survey(actor: User | None, survey: Survey) -> Survey:
    """Close an open (or scheduled) survey; anonymous surveys lose their key here."""
    survey = _lock(survey.id)
    if survey.status not in (SurveyStatus.open, SurveyStatus.scheduled):
        raise illegal(_l("Solo se puede cerrar una encuesta abierta o programada."))
    _close(survey, actor)
    db.session.commit()
    _after_close(survey.id)
    return get_survey(survey.id)


def _close(survey: Survey, actor: User | None) -> None:
    from surveys.services.demand_feed import aggregate_anonymous_demand

    now = utcnow()
    survey.status = SurveyStatus.closed
    survey.closed_at = now
    survey.updated_at = now
    cancel_scheduled(subject=subject_of(survey), kind=REMINDER_KIND)
    _mark_respondents(survey)
    if survey.privacy == Privacy.anonymous:
        aggregate_anonymous_demand(survey)
        _forget_identities(survey, now)
    audit.record("survey.closed", survey, actor=actor)


def _mark_respondents(survey: Survey) -> None:
    """Flag the people who started and submitted (they are told when results come out)."""
    key = survey_key(survey)
    if not key:
        return
    keys = set(
        db.session.execute(
            select(SurveyResponse.respondent_key).where(SurveyResponse.survey_id == survey.id)
        ).scalars()
    )
    starts = db.session.execute(select(SurveyStart).where(SurveyStart.survey_id == survey.id)).scalars().all()
    users = {
        u.id: u
        for u in db.session.execute(select(User).where(User.id.in_([s.user_id for s in starts]))).scalars()
    }
    for start in starts:
        user = users.get(start.user_id)
        start.responded = bool(user is not None and respondent_key_for(survey, user, key) in keys)


def _forget_identities(survey: Survey, now) -> None:
    """Destroy the key and everything that could still tie answers to accounts: respondent
    keys become random, times become the close time, non-respondent starts are dropped,
    invitation, vote, pair and idea keys are cleared."""
    survey.hmac_key = None
    survey.key_destroyed_at = now
    responses = db.session.execute(
        select(SurveyResponse).where(SurveyResponse.survey_id == survey.id)
    ).scalars()
    for response in responses:
        response.respondent_key = "erased:" + hashlib.sha256(secrets.token_bytes(32)).hexdigest()[:56]
        response.created_at = response.updated_at = now
        response.user_id = None
    db.session.execute(update(SurveyStart).where(SurveyStart.survey_id == survey.id).values(started_at=None))
    db.session.execute(
        SurveyStart.__table__.delete().where(
            SurveyStart.survey_id == survey.id, SurveyStart.responded.is_(False)
        )
    )
    db.session.execute(
        update(SurveyInvitation).where(SurveyInvitation.survey_id == survey.id).values(respondent_key=None)
    )
    db.session.execute(
        update(SurveyInvitation)
        .where(SurveyInvitation.survey_id == survey.id, SurveyInvitation.used_at.is_not(None))
        .values(used_at=now)
    )
    question_ids = select(SurveyQuestion.id).where(SurveyQuestion.survey_id == survey.id)
    db.session.execute(
        update(WikiVote)
        .where(WikiVote.question_id.in_(question_ids))
        .values(respondent_key=None, created_at=now)
    )
    db.session.execute(
        WikiPair.__table__.delete().where(WikiPair.question_id.in_(question_ids), WikiPair.used_at.is_(None))
    )
    db.session.execute(
        update(WikiPair)
        .where(WikiPair.question_id.in_(question_ids))
        .values(respondent_key=None, issued_at=None, used_at=now)
    )
    db.session.execute(
        update(SurveyChoice)
        .where(SurveyChoice.question_id.in_(question_ids), SurveyChoice.submitted_key.is_not(None))
        .values(submitted_key=None, created_at=now)
    )
    db.session.flush()


def _after_close(survey_id: int) -> None:
    from surveys.tasks import request_demand_sync

    request_demand_sync(survey_id)


def publish_results(actor: User | None, survey: Survey) -> Survey:
    """Publish the results of a closed survey; respondents are told."""
    survey = _lock(survey.id)
    if survey.status != SurveyStatus.closed:
        raise illegal(_l("Solo se publican los resultados de una encuesta cerrada."))
    survey.status = SurveyStatus.published
    survey.results_published_at = utcnow()
    survey.updated_at = survey.results_published_at
    audit.record("survey.results_published", survey, actor=actor)
    _notify_respondents(survey)
    db.session.commit()
    return get_survey(survey.id)


def _notify_respondents(survey: Survey) -> None:
    starts = (
        db.session.execute(
            select(SurveyStart).where(SurveyStart.survey_id == survey.id, SurveyStart.responded.is_(True))
        )
        .scalars()
        .all()
    )
    ids = [s.user_id for s in starts]
    if survey.privacy == Privacy.identified:
        ids = sorted(
            set(ids)
            | set(
                db.session.execute(
                    select(SurveyResponse.user_id).where(
                        SurveyResponse.survey_id == survey.id, SurveyResponse.user_id.is_not(None)
                    )
                ).scalars()
            )
        )
    if not ids:
        return
    title = survey.title
    for user in db.session.execute(select(User).where(User.id.in_(ids), User.deleted_at.is_(None))).scalars():
        notify(
            to=user,
            kind="surveys.results_published",
            subject=_l("Ya están los resultados de «%(title)s»", title=title),
            template="surveys/email/results",
            dedupe_key=f"survey:{survey.id}:results:{user.id}",
            category=Category.surveys,
            link=f"/surveys/{survey.id}/results",
            summary=_l("Gracias por responder. Mira lo que dijo la gente."),
            context={
                "survey": survey,
                "institution": survey.institution,
                "url": external_url("surveys.results", survey_id=survey.id),
            },
        )
    if survey.privacy == Privacy.anonymous:
        # The list of respondents has served its one purpose.
        db.session.execute(SurveyStart.__table__.delete().where(SurveyStart.survey_id == survey.id))


def run_schedule() -> dict[str, int]:
    """Open scheduled surveys whose time came and close open ones past `closes_at` (beat)."""
    now = utcnow()
    counts = {"opened": 0, "closed": 0}
    due_open = (
        db.session.execute(
            select(Survey.id).where(Survey.status == SurveyStatus.scheduled, Survey.opens_at <= now)
        )
        .scalars()
        .all()
    )
    for survey_id in due_open:
        survey = _lock(survey_id)
        if survey.status == SurveyStatus.scheduled and survey.opens_at <= utcnow():
            if survey.closes_at <= utcnow():
                _close(survey, None)
                counts["closed"] += 1
            else:
                _start(survey, None)
                counts["opened"] += 1
        db.session.commit()
    due_close = (
        db.session.execute(
            select(Survey.id).where(Survey.status == SurveyStatus.open, Survey.closes_at <= now)
        )
        .scalars()
        .all()
    )
    for survey_id in due_close:
        survey = _lock(survey_id)
        if survey.status == SurveyStatus.open and survey.closes_at <= utcnow():
            _close(survey, None)
            counts["closed"] += 1
            db.session.commit()
            _after_close(survey_id)
        else:
            db.session.commit()
    return counts


# --- the 48 h reminder (ledger) -------------------------------------------------------------


def _reminder_checksum(survey: Survey) -> str:
    return hashlib.sha256(f"close\x1f{survey.closes_at.isoformat()}".encode()).hexdigest()


def schedule_close_reminder(survey: Survey, user: User) -> None:
    """Remind someone who opened the questionnaire 48 h before the close (skipped if they answered)."""
    fire_at = survey.closes_at - REMINDER_BEFORE
    if fire_at <= utcnow():
        return
    schedule(
        kind=REMINDER_KIND,
        subject=subject_of(survey),
        recipient=user,
        fire_at=fire_at,
        offset_key="48h",
        checksum=_reminder_checksum(survey),
        category=Category.surveys,
        expires_at=survey.closes_at,
    )


def sync_close_reminders(survey: Survey) -> None:
    """After `closes_at` moves: move every pending reminder."""
    if survey.status not in (SurveyStatus.open, SurveyStatus.scheduled):
        return
    starts = db.session.execute(select(SurveyStart).where(SurveyStart.survey_id == survey.id)).scalars().all()
    users = db.session.execute(select(User).where(User.id.in_([s.user_id for s in starts]))).scalars()
    for user in users:
        schedule_close_reminder(survey, user)


def render_close_reminder(row: ScheduledNotification) -> RenderedReminder | None:
    """Send only while the survey is open, the close unchanged and no answer was submitted."""
    prefix, _sep, value = row.subject.partition(":")
    survey = get_survey(int(value)) if prefix == "survey" and value.isdigit() else None
    if survey is None or survey.status != SurveyStatus.open:
        return RenderedReminder.skip("survey not open")
    if row.checksum != _reminder_checksum(survey):
        return RenderedReminder.skip("outdated version")
    key = respondent_key_for(survey, row.recipient)
    answered = (
        key is not None
        and db.session.execute(
            select(SurveyResponse.id).where(
                SurveyResponse.survey_id == survey.id, SurveyResponse.respondent_key == key
            )
        ).first()
    )
    if answered:
        return RenderedReminder.skip("not needed")
    title = survey.title
    from core.i18n import format_in_zone

    return RenderedReminder(
        subject=_lazy(lambda: _("Quedan 48 horas para responder «%(title)s»", title=title)),
        template="surveys/email/reminder",
        context={
            "survey": survey,
            "institution": survey.institution,
            "url": survey_url(survey),
            "closes": format_in_zone(survey.closes_at, survey.timezone),
        },
        link=f"/surveys/{survey.id}",
        summary=_lazy(lambda: _("Empezaste a responder «%(title)s» y aún no la envías.", title=title)),
    )


def _lazy(func):
    from flask_babel import LazyString

    return LazyString(func)


register_renderer(REMINDER_KIND, render_close_reminder)
