"""Celery tasks of challenges: open and close on time (every minute from beat). Each
transition locks the challenge row and checks its state, so running twice is harmless."""

from __future__ import annotations

from celery import shared_task

from challenges import services


@shared_task(name="challenges.open_and_close")
def open_and_close() -> dict[str, int]:
    """Open published challenges whose opening came and close open ones whose close passed."""
    return {"opened": services.open_due_challenges(), "closed": services.close_due_challenges()}
