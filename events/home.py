"""What events show on the home page: the next activities, stories and the programme's numbers."""

from __future__ import annotations

import json
from typing import Any

import redis
from flask import current_app
from flask_babel import format_number, ngettext
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from core.extensions import db
from core.pages import HomeFigure, HomeSection, home_figures, home_sections
from core.redis_client import get_redis
from core.timeutil import utcnow
from events import services
from events.models import Commitment as CommitmentModel
from events.models import (
    CommitmentStatus,
    DatasetRelation,
    Event,
    EventDataset,
    EventStatus,
    Registration,
    RegistrationStatus,
    public_event_condition,
)

UPCOMING_ON_HOME = 6
FIGURES_CACHE_KEY = "home:figures:events"
FIGURES_CACHE_SECONDS = 300


def my_next_registrations(user: Any, limit: int = 3) -> list[Registration]:
    """A person's next activities (confirmed or waitlisted, not over yet), soonest first."""
    return list(
        db.session.execute(
            select(Registration)
            .join(Registration.event)
            .options(joinedload(Registration.event).joinedload(Event.institution))
            .where(
                Registration.user_id == user.id,
                Registration.status != RegistrationStatus.cancelled,
                Event.status == EventStatus.published,
                Event.ends_at >= utcnow(),
            )
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        ).scalars()
    )


def programme_counts() -> dict[str, int]:
    """Events held, people who took part, datasets published, commitments met and made.

    One statement of scalar subqueries, cached for a few minutes: the home page is the
    busiest page and these numbers move slowly.
    """
    try:
        cached = get_redis().get(FIGURES_CACHE_KEY)
    except redis.RedisError:
        cached = None
    if cached:
        return json.loads(cached)
    now = utcnow()
    held = (
        select(func.count())
        .select_from(Event)
        .where(
            public_event_condition(),
            or_(
                Event.status == EventStatus.completed,
                and_(Event.status == EventStatus.published, Event.ends_at < now),
            ),
        )
        .scalar_subquery()
    )
    people = (
        select(func.count(func.distinct(Registration.user_id)))
        .where(Registration.checked_in_at.is_not(None))
        .scalar_subquery()
    )
    datasets = (
        select(func.count())
        .select_from(EventDataset)
        .join(Event, Event.id == EventDataset.event_id)
        .where(EventDataset.relation == DatasetRelation.published, public_event_condition())
        .scalar_subquery()
    )
    made = (
        select(func.count())
        .select_from(CommitmentModel)
        .where(CommitmentModel.status != CommitmentStatus.dropped)
        .scalar_subquery()
    )
    met = (
        select(func.count())
        .select_from(CommitmentModel)
        .where(CommitmentModel.status == CommitmentStatus.done)
        .scalar_subquery()
    )
    row = db.session.execute(select(held, people, datasets, made, met)).one()
    counts = dict(zip(("held", "people", "datasets", "made", "met"), (int(v or 0) for v in row), strict=True))
    try:
        get_redis().set(FIGURES_CACHE_KEY, json.dumps(counts), ex=FIGURES_CACHE_SECONDS)
    except redis.RedisError:
        current_app.logger.warning("home figures not cached: Redis unavailable")
    return counts


def _section(sender, user=None, **_: Any) -> HomeSection:
    page = services.list_events(services.EventFilters(when="upcoming", per_page=UPCOMING_ON_HOME))
    mine = my_next_registrations(user) if user is not None and user.is_authenticated else []
    stories = services.list_stories(page=1, per_page=3).items
    return HomeSection(
        order=10,
        template="events/_home.html",
        context={
            "events": page.items,
            "counts": page.counts,
            "mine": mine,
            "stories": stories,
            "now": utcnow(),
            "labels": {
                "kind_labels": services.KIND_LABELS,
                "status_labels": services.STATUS_LABELS,
                "format_labels": services.FORMAT_LABELS,
            },
        },
    )


def _figures(sender, user=None, **_: Any) -> list[HomeFigure]:
    counts = programme_counts()
    return [
        HomeFigure(
            10,
            format_number(counts["held"]),
            ngettext("actividad realizada", "actividades realizadas", counts["held"]),
        ),
        HomeFigure(
            20,
            format_number(counts["people"]),
            ngettext("persona participó", "personas participaron", counts["people"]),
        ),
        HomeFigure(
            30,
            format_number(counts["datasets"]),
            ngettext(
                "conjunto de datos publicado como resultado",
                "conjuntos de datos publicados como resultado",
                counts["datasets"],
            ),
        ),
        HomeFigure(
            40,
            f"{format_number(counts['met'])}/{format_number(counts['made'])}",
            # "1/5 acuerdos cumplidos": the fraction is read against the commitments made.
            ngettext("acuerdo cumplido", "acuerdos cumplidos", counts["made"]),
        ),
    ]


def connect_home() -> None:
    """Subscribe events to the home page (called once by the app factory)."""
    home_sections.connect(_section, weak=False)
    home_figures.connect(_figures, weak=False)
