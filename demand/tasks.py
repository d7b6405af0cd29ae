"""Celery tasks of demand. Each reloads its rows by id and checks state first (safe twice)."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy import select

from core.extensions import db
from demand import answers, reports, urlcheck
from demand import reminders as _reminders  # noqa: F401 - registers the ledger renderer
from demand.models import DemandAnswer, DemandItem, DemandStatus, UrlCheck


@shared_task(name="demand.check_published_url", acks_late=True)
def check_published_url(item_id: int) -> str:
    """Check a published item's address (2xx, or a catalogue dataset) and store the outcome."""
    item = db.session.get(DemandItem, item_id)
    if item is None or item.status != DemandStatus.published or item.answer is None:
        return "skipped"
    outcome, detail = urlcheck.check(item)
    answers.record_url_check(item_id, outcome, detail)
    return str(outcome)


@shared_task(name="demand.hourly")
def hourly() -> dict[str, int]:
    """Beat, every hour: overdue commitments, pending URL checks, every institution's report."""
    overdue = answers.note_overdue_commitments()
    pending = (
        db.session.execute(
            select(DemandAnswer.item_id)
            .join(DemandItem, DemandItem.id == DemandAnswer.item_id)
            .where(DemandItem.status == DemandStatus.published, DemandAnswer.url_check == UrlCheck.pending)
        )
        .scalars()
        .all()
    )
    for item_id in pending:
        check_published_url(item_id)
    computed = reports.compute_all()
    digests = reports.send_weekly_digests()
    return {"overdue": overdue, "url_checks": len(pending), "reports": computed, "digests": digests}


@shared_task(name="demand.compute_report")
def compute_report(institution_id: int) -> bool:
    """Recompute one institution's demand report now (POST …/demand-report)."""
    return reports.compute_report(institution_id) is not None
