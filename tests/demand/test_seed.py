"""Demo demand: catalogues, requests, comments and answers in every state; idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from demand import answers
from demand.models import Comment, Dataset, DemandItem, DemandReport
from demo import seed_demo


def _counts():
    return tuple(
        db.session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Dataset, DemandItem, Comment)
    )


def test_seed_demo_adds_demand_in_every_state_and_is_idempotent(app, demo, ctx):
    # `demo`: what seed_demo() wrote on empty tables (tests/conftest.py).
    statuses = set(db.session.execute(select(DemandItem.status)).scalars())
    assert statuses >= {
        "received",
        "under_review",
        "scheduled",
        "published",
        "not_possible",
        "answered",
        "merged",
    }
    assert any(answers.is_overdue(item) for item in db.session.execute(select(DemandItem)).scalars())
    assert (
        db.session.execute(select(func.count()).select_from(Comment).where(Comment.official)).scalar_one() > 0
    )
    assert db.session.execute(select(func.count()).select_from(DemandReport)).scalar_one() == 6
    before = _counts()
    assert all(before)
    seed_demo()
    assert _counts() == before
