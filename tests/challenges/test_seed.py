"""Demo data: a challenge in every state, with teams, submissions, scores and a showcase."""

from __future__ import annotations

from sqlalchemy import func, select

from challenges.models import (
    Challenge,
    ChallengeStatus,
    Score,
    ShowcaseItem,
    ShowcaseStatus,
    Submission,
    Team,
)
from core.extensions import db
from demo import seed_demo


def snapshot():
    return tuple(
        db.session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Challenge, Team, Submission, Score, ShowcaseItem)
    )


def test_seed_demo_has_a_challenge_in_every_state_and_is_idempotent(app, demo, ctx, client):
    # `demo`: what seed_demo() wrote on empty tables (tests/conftest.py).
    states = set(db.session.execute(select(Challenge.status)).scalars())
    assert states == {s.value for s in ChallengeStatus}
    counts = snapshot()
    assert all(counts), counts
    awarded = db.session.execute(select(Challenge).where(Challenge.status == "awarded")).scalar_one()
    assert db.session.execute(
        select(Team).where(Team.challenge_id == awarded.id, Team.award.is_not(None))
    ).first()
    published = (
        db.session.execute(select(ShowcaseItem).where(ShowcaseItem.status == ShowcaseStatus.published))
        .scalars()
        .all()
    )
    assert any(item.submission_id for item in published) and any(not item.submission_id for item in published)
    seed_demo()
    assert snapshot() == counts
    # Every public page of the demo renders.
    for challenge in db.session.execute(select(Challenge).where(Challenge.status != "draft")).scalars():
        assert client.get(f"/challenges/{challenge.id}").status_code == 200
        assert client.get(f"/challenges/{challenge.id}/results").status_code == 200
    assert client.get("/challenges").status_code == 200
    assert client.get("/apps").status_code == 200
