"""A Celery app for worker tests: Promueve's worker plus a renderer for test reminders.

`celery -A tests.notifications.reminder_app worker` (domains register their renderers
at import time; tests have no domain, so this module stands in for one).
"""

from __future__ import annotations

from notifications import services
from worker import celery, flask_app  # noqa: F401 - the app the worker runs

TEST_KIND = "test.reminder"


def render_test_reminder(row):
    """A reminder for a made-up subject (the tests' own renderer)."""
    return services.RenderedReminder(
        subject=f"Recordatorio {row.subject}",
        template="notifications/email/reminder",
        context={"title": row.subject, "message": "Falta poco.", "starts_at": row.fire_at},
        link="/institutions",
    )


services.register_renderer(TEST_KIND, render_test_reminder)
app = celery
