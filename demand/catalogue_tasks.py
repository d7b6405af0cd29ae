"""Celery tasks of the catalogue mirror. Each reloads its rows by id and checks the state first,
so a task delivered twice does the work once."""

from __future__ import annotations

import logging

from celery import shared_task

from demand import catalogue

log = logging.getLogger(__name__)


@shared_task(name="demand.refresh_catalogue", acks_late=True)
def refresh_catalogue(institution_id: int) -> str:
    """Refresh one institution's catalogue mirror: 'ok', 'error' (recorded) or 'skipped'."""
    try:
        return catalogue.run_refresh(institution_id)
    except Exception:
        # Catalogue faults are recorded by run_refresh; this is a bug or the database: say so
        # on the status rather than leave it "running" until it goes stale.
        log.exception("catalogue refresh of institution %s crashed", institution_id)
        catalogue.record_internal_failure(institution_id)
        return "error"


@shared_task(name="demand.refresh_all_catalogues")
def refresh_all_catalogues() -> int:
    """Queue a refresh of every configured catalogue; daily from beat."""
    return catalogue.refresh_all()
