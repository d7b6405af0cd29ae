"""Refreshing an institution's catalogue mirror: paging, idempotent import, withdrawals, and
failures recorded on the status instead of raised, against a local fake CKAN/DCAT server."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditEntry
from core.timeutil import utcnow
from demand import catalogue
from demand.catalogue_models import CatalogueStatus
from demand.catalogue_tasks import refresh_all_catalogues, refresh_catalogue
from demand.models import Dataset, DemandItem, DemandKind, DemandStatus
from tests.conftest import REDIS_URL
from tests.demand.fake_catalogue import running_server
from tests.factories import make_institution, make_liaison


@pytest.fixture
def fake():
    return running_server()


# The tasks' bodies are called with `.run()`: calling the task object would enter the app
# context of whichever app the default Celery app is bound to, and tests create several apps.


def queued_refreshes() -> list[int]:
    """Institution ids of the refresh tasks waiting in the broker's default queue."""
    found = []
    for raw in redis.Redis.from_url(REDIS_URL).lrange("default", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == catalogue.REFRESH_TASK:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append(args[0])
    return found


def ckan_institution(fake, slug="salud", organization="salud"):
    return make_institution(
        slug,
        catalogue_url=fake.url(f"/ckan/organization/{organization}"),
        catalogue_kind="ckan",
        catalogue_organization=organization,
    )


def dcat_institution(fake, slug="conagua", path="/dcat"):
    return make_institution(slug, catalogue_url=fake.url(path), catalogue_kind="dcat")


def refresh(institution, actor=None) -> str:
    catalogue.request_refresh(institution, actor)
    return catalogue.run_refresh(institution.id)


def datasets_of(institution) -> dict[str, Dataset]:
    rows = db.session.execute(select(Dataset).where(Dataset.institution_id == institution.id)).scalars()
    return {d.source_id: d for d in rows}


def test_ckan_is_read_page_by_page_until_the_count(app, ctx, fake):
    app.config["CATALOGUE_PAGE_SIZE"] = 2
    institution = ckan_institution(fake)
    progress = []
    real = catalogue._save_progress
    catalogue._save_progress = lambda i, fetched, total: (
        progress.append((fetched, total)),
        real(i, fetched, total),
    )
    try:
        assert refresh(institution) == "ok"
    finally:
        catalogue._save_progress = real
    searches = [r for r in fake.requests if r["path"].endswith("package_search")]
    assert [r["query"]["start"] for r in searches] == [["0"], ["2"], ["4"]]
    assert all(r["query"]["fq"] == ["organization:salud"] and r["query"]["rows"] == ["2"] for r in searches)
    assert searches[0]["path"] == "/ckan/api/3/action/package_search"  # the site root, not the org page
    assert progress == [(2, 5), (4, 5), (5, 5)]
    datasets = datasets_of(institution)
    assert len(datasets) == 5  # the SEP package of the same catalogue is not imported
    egresos = next(d for d in datasets.values() if d.title == "Egresos hospitalarios")
    assert egresos.url == fake.url("/ckan/dataset/egresos-hospitalarios")
    assert egresos.formats == "CSV, ZIP"
    assert egresos.description.startswith("Egresos de unidades médicas")
    assert egresos.modified_at.isoformat() == "2025-06-01T10:00:00+00:00"
    status = db.session.get(CatalogueStatus, institution.id)
    assert (status.state, status.added, status.fetched, status.total) == ("ok", 5, 5, 5)
    assert status.refreshed_at is not None and status.error is None
    assert catalogue.status_of(institution)["datasets"] == 5


def test_import_is_idempotent_and_follows_changes(app, ctx, fake):
    institution = ckan_institution(fake)
    assert refresh(institution) == "ok"
    first = {sid: d.id for sid, d in datasets_of(institution).items()}
    assert refresh(institution) == "ok"
    status = db.session.get(CatalogueStatus, institution.id)
    assert (status.added, status.updated, status.withdrawn, status.restored) == (0, 0, 0, 0)
    assert {sid: d.id for sid, d in datasets_of(institution).items()} == first

    fake.packages[0]["title"] = "Egresos hospitalarios 2000-2025"
    fake.packages[0]["notes"] = "Serie completa."
    assert refresh(institution) == "ok"
    dataset = datasets_of(institution)[fake.packages[0]["id"]]
    assert (dataset.title, dataset.description) == ("Egresos hospitalarios 2000-2025", "Serie completa.")
    status = db.session.get(CatalogueStatus, institution.id)
    assert (status.added, status.updated) == (0, 1)
    assert {sid: d.id for sid, d in datasets_of(institution).items()} == first


def test_vanished_datasets_are_withdrawn_never_deleted_and_come_back(app, ctx, fake):
    institution = ckan_institution(fake)
    assert refresh(institution) == "ok"
    gone = fake.packages.pop(1)
    dataset = datasets_of(institution)[gone["id"]]
    item = DemandItem(
        institution_id=institution.id,
        dataset_id=dataset.id,
        kind=DemandKind.question,
        title=dataset.title,
        status=DemandStatus.received,
        due_on=utcnow().date(),
    )
    db.session.add(item)
    db.session.commit()

    assert refresh(institution) == "ok"
    db.session.refresh(dataset)
    assert dataset.withdrawn_at is not None
    assert db.session.get(DemandItem, item.id).dataset_id == dataset.id
    status = catalogue.status_of(institution)
    assert status["datasets"] == 4 and status["last_run"]["withdrawn"] == 1

    fake.packages.append(gone)
    assert refresh(institution) == "ok"
    db.session.refresh(dataset)
    assert dataset.withdrawn_at is None
    assert catalogue.status_of(institution)["last_run"]["restored"] == 1
    assert db.session.execute(select(func.count()).select_from(Dataset)).scalar_one() == 5


def test_dcat_data_json_is_imported(app, ctx, fake):
    institution = dcat_institution(fake)
    assert refresh(institution) == "ok"
    assert fake.requests[-1]["path"] == "/dcat/data.json"
    datasets = datasets_of(institution)
    assert set(datasets) == {
        "conagua-presas-2025",
        "conagua-estaciones",
        "https://datos.example.gob.mx/id/monitor-sequia",
    }
    presas = datasets["conagua-presas-2025"]
    assert presas.url == "https://datos.example.gob.mx/presas"  # the landing page
    assert presas.formats == "CSV"
    assert presas.modified_at.isoformat() == "2025-07-30T00:00:00+00:00"
    estaciones = datasets["conagua-estaciones"]
    assert estaciones.url == "https://datos.example.gob.mx/estaciones"  # no landing page: first distribution
    assert estaciones.formats == "JSON, XLSX"
    assert datasets["https://datos.example.gob.mx/id/monitor-sequia"].modified_at is None  # "R/P1M"


def test_dcat_address_naming_the_json_file_is_used_as_is(app, ctx, fake):
    institution = dcat_institution(fake, path="/dcat/data.json")
    assert refresh(institution) == "ok"
    assert [r["path"] for r in fake.requests] == ["/dcat/data.json"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/error", "http_error"),
        ("/missing", "http_error"),
        ("/broken", "bad_json"),
        ("/html", "bad_json"),
        ("/shape", "malformed"),
        ("/slow", "timeout"),
        ("/loop", "too_many_redirects"),
    ],
)
def test_catalogue_failures_are_recorded_not_raised(app, ctx, fake, path, code):
    app.config["CATALOGUE_TIMEOUT"] = 0.5
    fake.slow_seconds = 1.5
    institution = dcat_institution(fake)
    assert refresh(institution) == "ok"
    institution.catalogue_url = fake.url(path)
    institution_id = institution.id
    db.session.commit()
    catalogue.request_refresh(institution, None)
    db.session.rollback()  # the task runs elsewhere: hold no SQLite lock while it does
    assert refresh_catalogue.run(institution_id) == "error"  # the Celery task itself does not raise
    status = db.session.get(CatalogueStatus, institution.id)
    assert status.state == "error" and status.error_code == code and status.error
    assert status.finished_at is not None and status.refreshed_at is not None  # the last good one
    # What was mirrored before stays: a failed fetch withdraws nothing.
    assert catalogue.status_of(institution)["datasets"] == 3
    info = catalogue.status_of(institution)
    assert info["error"] == status.error and info["error_label"]


def test_ckan_success_false_and_server_errors_are_recorded(app, ctx, fake):
    institution = ckan_institution(fake)
    institution.catalogue_url = fake.url("/ckan-fails")
    db.session.commit()
    assert refresh(institution) == "error"
    status = db.session.get(CatalogueStatus, institution.id)
    assert (status.error_code, status.error) == ("ckan_error", "Solr down")
    institution.catalogue_url = fake.url("/ckan-error/dataset")
    db.session.commit()
    assert refresh(institution) == "error"
    assert db.session.get(CatalogueStatus, institution.id).error_code == "http_error"


def test_a_private_address_is_refused_and_recorded(app, ctx, fake):
    app.config["CATALOGUE_ALLOW_PRIVATE"] = False
    institution = dcat_institution(fake)
    assert refresh(institution) == "error"
    assert db.session.get(CatalogueStatus, institution.id).error_code == "refused_address"
    assert fake.requests == []


def test_an_unexpected_crash_leaves_an_error_not_a_run_that_never_ends(app, ctx, fake, monkeypatch):
    institution = dcat_institution(fake)
    institution_id = institution.id
    catalogue.request_refresh(institution, None)
    db.session.rollback()

    def crash(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(catalogue, "import_datasets", crash)
    assert refresh_catalogue.run(institution_id) == "error"
    status = db.session.get(CatalogueStatus, institution.id)
    assert (status.state, status.error_code) == ("error", "internal")


def test_a_refresh_is_queued_after_commit_once_and_audited(app, ctx, fake):
    institution = dcat_institution(fake)
    liaison = make_liaison(institution)
    status, queued = catalogue.request_refresh(institution, liaison)
    assert queued and status.state == "queued" and status.requested_by_id == liaison.id
    assert queued_refreshes() == [institution.id]
    _status, queued = catalogue.request_refresh(institution, liaison)
    assert not queued
    assert queued_refreshes() == [institution.id]
    audits = (
        db.session.execute(select(AuditEntry).where(AuditEntry.action == "catalogue.refresh")).scalars().all()
    )
    assert (
        len(audits) == 1 and audits[0].actor_id == liaison.id and audits[0].institution_id == institution.id
    )

    institution_id = institution.id
    db.session.rollback()
    assert refresh_catalogue.run(institution_id) == "ok"
    assert refresh_catalogue.run(institution_id) == "skipped"  # delivered twice: runs once
    assert sum(1 for r in fake.requests if r["path"] == "/dcat/data.json") == 1


def test_a_refresh_lost_by_its_worker_can_be_queued_again(app, ctx, fake):
    institution = dcat_institution(fake)
    catalogue.request_refresh(institution, None)
    status = db.session.get(CatalogueStatus, institution.id)
    status.requested_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    _status, queued = catalogue.request_refresh(institution, None)
    assert queued
    assert queued_refreshes() == [institution.id, institution.id]


def test_a_broker_that_does_not_answer_is_said_on_the_status(app, ctx, fake, monkeypatch):
    institution = dcat_institution(fake)

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(app.extensions["celery"], "send_task", refuse)
    status, queued = catalogue.request_refresh(institution, None)
    assert queued
    status = db.session.get(CatalogueStatus, institution.id)
    assert (status.state, status.error_code) == ("error", "queue_unavailable")


def test_refresh_needs_a_configured_catalogue(app, ctx, fake):
    from core.exceptions import DomainError

    institution = make_institution("sin-catalogo", catalogue_url="https://datos.example.gob.mx")
    with pytest.raises(DomainError) as info:
        catalogue.request_refresh(institution, None)
    assert info.value.code == "catalogue_not_configured"


def test_the_daily_task_queues_every_configured_catalogue(app, ctx, fake):
    ckan = ckan_institution(fake)
    dcat = dcat_institution(fake)
    make_institution("sin-catalogo", catalogue_url="https://datos.example.gob.mx")
    make_institution("nada")
    expected = sorted([ckan.id, dcat.id])
    db.session.rollback()
    assert refresh_all_catalogues.run() == 2
    assert sorted(queued_refreshes()) == expected
    assert refresh_all_catalogues.run() == 0  # already queued: not twice
    assert (
        db.session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "catalogue.refresh")
        ).scalar_one()
        == 0
    )  # nobody asked: nothing to audit


def test_beat_refreshes_catalogues_daily(app):
    from celery.schedules import crontab

    entry = app.config["CELERY"]["beat_schedule"]["refresh-catalogues"]
    assert entry["task"] == "demand.refresh_all_catalogues"
    assert isinstance(entry["schedule"], crontab)
    assert "demand.refresh_catalogue" in app.extensions["celery"].tasks


def test_catalogue_text_is_cleaned(app, ctx, fake):
    fake.dcat["dataset"] = [
        {"identifier": "x" * 300, "title": "Con\x00 nulo", "landingPage": "javascript:alert(1)"},
        {"identifier": "sin-titulo"},
        "no es un objeto",
        {
            "identifier": 42,
            "title": "Número",
            "distribution": [{"downloadURL": "ftp://x/y.csv", "format": "csv"}],
        },
        {"identifier": ["a"], "title": "Id que no es texto"},
        {"identifier": "rara", "title": {"es": "x"}},
        {"identifier": "dist", "title": "Distribución rara", "distribution": 5, "modified": "ayer"},
    ]
    institution = dcat_institution(fake)
    assert refresh(institution) == "ok"
    datasets = datasets_of(institution)
    assert len(datasets) == 3
    assert datasets["dist"].formats is None and datasets["dist"].modified_at is None
    long = next(d for d in datasets.values() if d.title == "Con nulo")
    assert long.source_id.startswith("sha256:") and long.url is None
    assert datasets["42"].url is None and datasets["42"].formats == "CSV"


def test_a_ckan_catalogue_announcing_too_much_is_refused(app, ctx, fake):
    app.config["CATALOGUE_PAGE_SIZE"] = 2
    app.config["CATALOGUE_MAX_DATASETS"] = 3
    institution = ckan_institution(fake)
    assert refresh(institution) == "error"
    assert db.session.get(CatalogueStatus, institution.id).error_code == "too_large"
    assert datasets_of(institution) == {}
