"""A real Celery worker refreshes a catalogue asked for through the API (fake CKAN server)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts.services import issue_api_token
from core.extensions import db
from demand.catalogue_models import CatalogueStatus
from tests.demand.fake_catalogue import running_server
from tests.factories import make_institution, make_liaison
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.worker


def test_worker_refreshes_the_catalogue_and_the_status_follows(app, ctx, client, tmp_path):
    fake = running_server()
    app.config["CATALOGUE_PAGE_SIZE"] = 2
    institution = make_institution(
        "salud",
        catalogue_url=fake.url("/ckan/organization/salud"),
        catalogue_kind="ckan",
        catalogue_organization="salud",
    )
    _token, raw = issue_api_token(make_liaison(institution), "worker")
    db.session.rollback()
    response = client.post(
        "/api/v1/institutions/salud/catalogue/refresh", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 202 and response.json["state"] == "queued"

    def state() -> str:
        found = db.session.execute(select(CatalogueStatus.state)).scalar_one()
        db.session.rollback()  # hold no lock between looks (SQLite)
        return found if found in ("ok", "error") else ""

    log = tmp_path / "worker.log"
    with celery_worker({"CATALOGUE_PAGE_SIZE": "2"}, log=log):
        assert wait_for(state, timeout=60) == "ok", log.read_text()
    status = client.get("/api/v1/institutions/salud/catalogue").json
    assert status["datasets"] == 5 and status["progress"] == {"fetched": 5, "total": 5, "percent": None}
    assert len([r for r in fake.requests if r["path"].endswith("package_search")]) == 3
