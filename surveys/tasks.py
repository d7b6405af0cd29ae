"""Celery tasks of surveys. Each reloads its rows by id and checks state first."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from core.celery_app import publish
from core.redis_client import get_redis

log = logging.getLogger(__name__)

DIRTY_KEY = "promueve:surveys:demand-dirty"
SYNC_TASK = "surveys.sync_demand"
DEBOUNCE_SECONDS = 30


def request_demand_sync(survey_id: int) -> None:
    """Ask for the survey's demand to be re-fed soon: one task per survey per debounce window;
    the beat sweep picks up anything a lost task left behind."""
    try:
        client = get_redis()
        client.sadd(DIRTY_KEY, survey_id)
        if not client.set(f"{DIRTY_KEY}:{survey_id}", 1, nx=True, ex=DEBOUNCE_SECONDS):
            return
        if current_app.extensions.get("celery") is not None:
            publish(SYNC_TASK, [survey_id], countdown=DEBOUNCE_SECONDS)
    except Exception:  # noqa: BLE001 - Redis or broker down: the beat sweep catches up
        log.warning("could not request a demand sync for survey %s", survey_id)


@shared_task(name=SYNC_TASK, acks_late=True)
def sync_demand(survey_id: int) -> int:
    """Re-feed one survey's demand from its answer sets."""
    from surveys.services.demand_feed import sync_survey_demand

    get_redis().srem(DIRTY_KEY, survey_id)
    return sync_survey_demand(survey_id)


@shared_task(name="surveys.sync_dirty_demand")
def sync_dirty_demand() -> int:
    """Beat: sync every survey still marked as changed (a lost task, a Redis hiccup)."""
    from surveys.services.demand_feed import sync_survey_demand

    client = get_redis()
    done = 0
    for raw in client.smembers(DIRTY_KEY):
        survey_id = int(raw)
        client.srem(DIRTY_KEY, survey_id)
        sync_survey_demand(survey_id)
        done += 1
    return done


@shared_task(name="surveys.run_schedule")
def run_schedule() -> dict[str, int]:
    """Beat, every minute: open scheduled surveys and close those past their close."""
    from surveys.services.lifecycle import run_schedule as run

    return run()


@shared_task(name="surveys.build_export", acks_late=True)
def build_export(export_id: int) -> str:
    """Build a large export in the worker, reporting progress on its row."""
    from surveys.services.exports import build_export as build

    return build(export_id)
