"""The demand report (ranking, sources, trend, suppressed breakdowns), the weekly digest,
accountability figures, and the event outcome feeding demand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from demand import answers, items, reports
from demand.models import DemandItem, DemandReport, DemandSignal, SignalSource
from demand.services import WantedDataset, replace_signals
from events import services as events
from tests.demand.helpers import citizen, request
from tests.factories import deliver_outbox, mails_to, make_event, make_institution, make_liaison


def test_report_ranks_items_counts_sources_trend_and_suppresses_small_cells(ctx):
    inegi = make_institution("inegi")
    with freeze_time(datetime(2026, 10, 1, 18, tzinfo=UTC)):
        old = request(citizen(sector="academia"), inegi, title="Padrón de escuelas")
    with freeze_time(datetime(2026, 11, 25, 18, tzinfo=UTC)):
        hot = request(citizen(sector="journalism", state="Oaxaca"), inegi, title="Calidad del aire")
        for _ in range(6):
            items.support(citizen(sector="journalism", state="Oaxaca"), hot)
        replace_signals(
            inegi.id, SignalSource.survey, "survey:1", [WantedDataset(title="Calidad del aire")], weight=10
        )
        db.session.commit()
    with freeze_time(datetime(2026, 11, 29, 18, tzinfo=UTC)):
        report = reports.compute_report(inegi.id)
    data = report.data
    assert [i["id"] for i in data["items"]] == [hot.id, old.id]
    top = data["items"][0]
    assert top["supporters"] == 7 and top["signals"] == {"request": 1, "support": 6, "event": 0, "survey": 10}
    assert top["trend"] == {"last_7": 17, "previous_7": 0, "last_30": 17, "previous_30": 0}
    assert data["items"][1]["trend"]["previous_30"] == 1
    assert data["supporters"] == 8 and data["signals"]["survey"] == 10
    sector = data["breakdowns"]["sector"]
    # academia 1 is hidden; journalism 7 (the smallest other cell) hides with it; not stated 10 shows.
    assert sector["cells"]["academia"] is None and sector["cells"]["journalism"] is None
    assert sector["cells"]["not_stated"] == 10 and sector["total"] == 18
    assert data["daily"][-1]["date"] == "2026-11-29" and sum(p["signals"] for p in data["daily"]) == 17
    assert db.session.get(DemandReport, inegi.id).computed_at is not None


def test_compute_all_stores_one_snapshot_per_institution(ctx):
    a, b = make_institution("inegi"), make_institution("salud")
    request(citizen(), a)
    assert reports.compute_all() == 2
    assert {r.institution_id for r in db.session.execute(select(DemandReport)).scalars()} == {a.id, b.id}
    assert reports.latest_report(b.id).data["items"] == []


def test_weekly_digest_reaches_liaisons_once_on_monday_morning(ctx, mail_dir):
    inegi = make_institution("inegi")
    make_liaison(inegi, "enlace@inegi.example.org")
    request(citizen(), inegi, title="Padrón de escuelas")
    reports.compute_report(inegi.id)
    assert reports.send_weekly_digests(datetime(2026, 11, 29, 16, tzinfo=UTC)) == 0  # Sunday
    monday = datetime(2026, 11, 30, 15, tzinfo=UTC)  # 09:00 in Mexico City
    assert reports.send_weekly_digests(monday) == 1
    reports.send_weekly_digests(monday + timedelta(hours=1))
    deliver_outbox()
    (mail,) = mails_to(mail_dir, "enlace@inegi.example.org")
    assert "Demanda de datos de la semana" in mail["Subject"]
    assert "Padrón de escuelas" in mail.get_body(preferencelist=("plain",)).get_content()


def test_accountability_counts_answers_working_days_and_deadlines(ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    with freeze_time(datetime(2026, 12, 14, 16, tzinfo=UTC)):  # Monday
        quick = request(citizen(), inegi, title="Uno")
        late = request(citizen(), inegi, title="Dos")
        waiting = request(citizen(), inegi, title="Tres")
    with freeze_time(datetime(2026, 12, 17, 16, tzinfo=UTC)):  # Thursday: 3 working days
        answers.answer(liaison, quick, status="scheduled", committed_on=date(2027, 1, 20))
    with freeze_time(datetime(2027, 1, 5, 16, tzinfo=UTC)):  # after the 29 Dec deadline
        answers.answer(
            liaison, late, status="not_possible", reason_code="does_not_exist", explanation="No existe."
        )
        figures = reports.accountability(inegi)
    # late: 15,16,17,18,21,22,23,24,28,29,30,31 Dec, 4,5 Jan = 14 working days (25 Dec, 1 Jan holidays).
    assert figures == {
        "received": 3,
        "answered": 2,
        "response_rate": 0.667,
        "median_working_days_to_answer": 8.5,
        "within_deadline_rate": 0.333,
        "overdue": 1,
    }
    assert db.session.get(DemandItem, waiting.id).due_on == date(2026, 12, 29)


def test_an_event_outcome_with_requested_datasets_becomes_demand(app, ctx):
    from core.timeutil import utcnow

    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = make_event(inegi)
    with freeze_time(event.ends_at + timedelta(hours=1)):
        events.record_outcome(
            liaison,
            events.get_event(event.id),
            attendance_count=10,
            requested_datasets=[
                {"title": "Accidentes viales", "url": "https://datos.example.org/accidentes"},
                {"title": "Calidad del aire", "url": "https://datos.example.org/aire"},
            ],
        )
    signals = db.session.execute(select(DemandSignal)).scalars().all()
    assert {(s.source, s.ref) for s in signals} == {(SignalSource.event, f"event:{event.id}")}
    assert {db.session.get(DemandItem, s.item_id).title for s in signals} == {
        "Accidentes viales",
        "Calidad del aire",
    }
    # Correcting the outcome moves the signals; an empty list withdraws them.
    with freeze_time(event.ends_at + timedelta(hours=2)):
        events.record_outcome(liaison, events.get_event(event.id), attendance_count=10, requested_datasets=[])
    assert db.session.execute(select(DemandSignal)).scalars().all() == []
    assert utcnow()
