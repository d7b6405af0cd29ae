"""Demo data: past and upcoming events of each kind, a waitlist, an outcome and a story."""

from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from core.timeutil import utcnow
from demo import seed_demo
from events.models import Event, EventOutcome, Registration, SuccessStory


def snapshot():
    return (
        db.session.execute(select(func.count()).select_from(Event)).scalar_one(),
        db.session.execute(select(func.count()).select_from(Registration)).scalar_one(),
        db.session.execute(select(func.count()).select_from(SuccessStory)).scalar_one(),
    )


def test_seed_demo_adds_events_of_each_kind_and_is_idempotent(app, demo, ctx):
    accounts = demo.accounts  # seed_demo() on empty tables (tests/conftest.py: `demo`)
    assert ("ciudadana", "ciudadana@promueve.example", "Ciudadana-Promueve-2026") in accounts
    events = list(db.session.execute(select(Event)).scalars())
    now = utcnow()
    for kind in ("dialogue_table", "datathon", "data_for_development"):
        assert any(e.kind == kind and e.starts_at > now and e.status == "published" for e in events), kind
        assert any(e.kind == kind and e.ends_at < now for e in events), kind
    assert (
        db.session.execute(
            select(func.count()).select_from(Registration).where(Registration.status == "waitlisted")
        ).scalar_one()
        > 0
    )
    completed = [e for e in events if e.status == "completed"]
    assert completed and db.session.execute(select(func.count()).select_from(EventOutcome)).scalar_one() >= 1
    story = db.session.execute(select(SuccessStory)).scalar_one()
    assert story.published_at is not None and story.event.status == "completed"
    assert story.event.commitments
    before = snapshot()
    seed_demo()
    assert snapshot() == before


def test_demo_pages_render(app, demo, client):
    with app.app_context():
        event_ids = list(db.session.execute(select(Event.id)).scalars())
    assert client.get("/events").status_code == 200
    assert client.get("/events?when=past").status_code == 200
    assert client.get("/stories").status_code == 200
    for event_id in event_ids:
        assert client.get(f"/events/{event_id}").status_code == 200
    client.post(
        "/login", data={"email": "enlace.conagua@promueve.example", "password": "Enlace-CONAGUA-2026"}
    )
    assert client.get("/events/manage").status_code == 200
