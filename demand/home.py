"""What demand shows on the home page: how many requests and questions got an official answer."""

from __future__ import annotations

import contextlib
from typing import Any

import redis
from flask_babel import format_number, ngettext
from sqlalchemy import func, select

from core.extensions import db
from core.pages import HomeFigure, home_figures
from core.redis_client import get_redis
from demand.models import DemandAnswer, DemandItem, DemandStatus

FIGURES_CACHE_KEY = "home:figures:demand"
FIGURES_CACHE_SECONDS = 300


def answered_count() -> int:
    """Requests and questions with an official answer (the first decision counts; a request
    merged into another counts there). One query, cached for a few minutes like the
    events' figures."""
    try:
        cached = get_redis().get(FIGURES_CACHE_KEY)
    except redis.RedisError:
        cached = None
    if cached is not None:
        return int(cached)
    count = db.session.execute(
        select(func.count())
        .select_from(DemandAnswer)
        .join(DemandItem, DemandItem.id == DemandAnswer.item_id)
        .where(DemandAnswer.answered_at.is_not(None), DemandItem.status != DemandStatus.merged)
    ).scalar_one()
    with contextlib.suppress(redis.RedisError):
        get_redis().set(FIGURES_CACHE_KEY, count, ex=FIGURES_CACHE_SECONDS)
    return count


def _figures(sender, user=None, **_: Any) -> list[HomeFigure]:
    count = answered_count()
    return [
        HomeFigure(
            50,
            format_number(count),
            ngettext(
                "solicitud de datos respondida por su institución",
                "solicitudes de datos respondidas por su institución",
                count,
            ),
        )
    ]


def connect_home() -> None:
    """Subscribe demand to the home page's figures (called once by the app factory)."""
    home_figures.connect(_figures, weak=False)
