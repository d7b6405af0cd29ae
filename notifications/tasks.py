"""Celery tasks of notifications. Each task reloads its rows by id and checks state,
so running one twice is harmless."""

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


@shared_task(name="notifications.send_notifications", acks_late=True)
def send_notifications(notification_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of outbox rows over one SMTP connection (mail queue)."""
    counts: dict[str, int] = {}
    for notification_id, outcome, delay in services.send_notifications(notification_ids):
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "retry" and delay is not None and delay <= services.SHORT_RETRY_SECONDS:
            send_notification.apply_async(args=[notification_id], countdown=delay)
    return counts


@shared_task(name="notifications.sweep_outbox")
def sweep_outbox() -> int:
    """Re-queue outbox rows stuck queued or sending; runs every minute from beat."""
    return services.sweep_outbox()


@shared_task(name="notifications.dispatch_reminders")
def dispatch_reminders() -> int:
    """Hand due reminder-ledger rows to `fire_reminders` batches; every minute from beat."""
    return services.dispatch_due_reminders()


@shared_task(name="notifications.fire_reminders", acks_late=True)
def fire_reminders(scheduled_ids: list[int]) -> dict[str, int]:
    """Turn a batch of due ledger rows into messages (one transaction)."""
    return services.fire_reminders(scheduled_ids)


@shared_task(name="notifications.send_digests")
def send_digests() -> int:
    """Send the daily and weekly digests whose period has begun; every minute from beat."""
    return services.send_due_digests()


@shared_task(name="notifications.purge")
def purge() -> dict[str, int]:
    """Forget notifications older than the retention period; hourly from beat."""
    return services.purge_old_notifications()
