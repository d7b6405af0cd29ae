"""Celery tasks of the outbox. Each task reloads its row by id and checks state."""

from __future__ import annotations

from celery import shared_task

from notifications import services


@shared_task(name="notifications.send_notification", bind=True, acks_late=True)
def send_notification(self, notification_id: int) -> str:
    """Deliver one outbox row (safe to run twice: the second run skips)."""
    outcome, delay = services.send_notification(notification_id)
    if outcome == "retry" and delay is not None and delay <= services.SHORT_RETRY_SECONDS:
        self.apply_async(args=[notification_id], countdown=delay)
    return outcome


@shared_task(name="notifications.sweep_outbox")
def sweep_outbox() -> int:
    """Re-queue outbox rows stuck queued or sending; runs every minute from beat."""
    return services.sweep_outbox()
