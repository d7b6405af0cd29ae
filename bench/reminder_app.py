"""The Celery app the reminder benchmark's workers run: Promueve's worker plus a renderer
for the benchmark's reminders (a domain would register its own at import time)."""

from __future__ import annotations

from notifications import services
from worker import celery, flask_app  # noqa: F401 - the app the worker runs

BENCH_KIND = "bench.reminder"


def render_bench_reminder(row):
    """A 24-hour reminder of a dialogue table, as the events domain would send it."""
    return services.RenderedReminder(
        subject=f"Recordatorio: mesa de diálogo {row.subject}",
        template="notifications/email/reminder",
        context={
            "title": "Mesa de diálogo sobre datos abiertos de movilidad",
            "message": "Faltan 24 horas para la mesa de diálogo a la que te registraste.",
            "starts_at": row.fire_at,
            "place": "Sala 3, Av. Insurgentes Sur 1234, Ciudad de México",
            "institution_name": "Instituto Nacional de Estadística y Geografía (INEGI)",
        },
        link="/institutions",
        summary="Mañana a esta hora",
    )


services.register_renderer(BENCH_KIND, render_bench_reminder)
app = celery
