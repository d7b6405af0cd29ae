"""A refresh asked for by many people at once is queued once, proven on PostgreSQL; the control
run without the row lock must show the duplicates, so we know the test can see the race."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from accounts.services import issue_api_token
from core.extensions import db
from core.models import AuditEntry
from demand import catalogue
from demand.catalogue_models import CatalogueState, CatalogueStatus
from tests.conftest import IS_POSTGRES
from tests.demand.test_catalogue_refresh import queued_refreshes
from tests.factories import make_institution, make_liaison

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")

CLIENTS = 20


def setup_institution():
    institution = make_institution(
        "salud", catalogue_url="https://datos.example.gob.mx", catalogue_kind="dcat"
    )
    tokens = []
    for _ in range(CLIENTS):
        _token, raw = issue_api_token(make_liaison(institution, role="staff"), "burst")
        tokens.append(raw)
    # The status row exists (an earlier refresh finished), as it does after the first day.
    db.session.add(CatalogueStatus(institution_id=institution.id, state=CatalogueState.ok))
    db.session.commit()
    return institution.id, tokens


def burst(app, tokens: list[str]) -> list[int]:
    barrier = threading.Barrier(len(tokens))

    def call(token: str) -> int:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/institutions/salud/catalogue/refresh", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(call, tokens))


def audited() -> int:
    count = db.session.execute(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "catalogue.refresh")
    ).scalar_one()
    db.session.rollback()
    return count


def test_twenty_people_refreshing_at_once_queue_one_refresh(app, ctx):
    institution_id, tokens = setup_institution()
    assert burst(app, tokens) == [202] * CLIENTS
    assert queued_refreshes() == [institution_id]
    assert audited() == 1


def test_control_without_the_lock_queues_duplicates(app, ctx, monkeypatch):
    _institution_id, tokens = setup_institution()

    def unlocked(institution_id: int) -> CatalogueStatus:
        status = db.session.get(CatalogueStatus, institution_id)
        # Give every request time to read the same state before any writes.
        threading.Event().wait(0.2)
        return status

    monkeypatch.setattr(catalogue, "_locked_status", unlocked)
    assert burst(app, tokens) == [202] * CLIENTS
    assert len(queued_refreshes()) > 1
