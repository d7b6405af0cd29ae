"""The catalogue mirror through the API and the pages: institution catalogue settings, refresh,
status, the dataset lists; permissions and bad input."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry, Institution
from demand import catalogue
from demand.models import Dataset
from tests.demand.fake_catalogue import running_server
from tests.demand.test_catalogue_refresh import queued_refreshes
from tests.factories import PASSWORD, login, make_institution, make_liaison, make_user


@pytest.fixture
def fake():
    return running_server()


def token_for(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def people(app, fake):
    with app.app_context():
        institution = make_institution(
            "salud",
            catalogue_url=fake.url("/ckan/organization/salud"),
            catalogue_kind="ckan",
            catalogue_organization="salud",
        )
        other = make_institution("sep")
        make_liaison(institution, "enlace@salud.example")
        make_liaison(institution, "staff@salud.example", role="staff")
        make_liaison(other, "enlace@sep.example")
        make_user("admin@example.org", admin=True)
        make_user("persona@example.org")
    return {"slug": "salud"}


def run_queued(app) -> list[str]:
    with app.app_context():
        return [catalogue.run_refresh(institution_id) for institution_id in queued_refreshes()]


# --- PATCH /institutions/<slug> ---------------------------------------------------------


def test_liaison_sets_the_catalogue_through_the_api(app, client, people, fake):
    headers = token_for(client, "enlace@salud.example")
    response = client.patch(
        "/api/v1/institutions/salud",
        json={
            "catalogue_url": fake.url("/dcat"),
            "catalogue_kind": "dcat",
            "catalogue_organization": None,
            "answer_days": 15,
            "description": "Datos de salud.",
        },
        headers=headers,
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["catalogue_kind"] == "dcat" and body["catalogue_organization"] is None
    assert body["catalogue_url"] == fake.url("/dcat") and body["description"] == "Datos de salud."
    assert body["answer_days"] == 15 and body["name"] == "Institución salud"  # untouched fields stay
    with app.app_context():
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "institution.update")
        ).scalar_one()
        assert set(entry.details["fields"]) == {
            "catalogue_url",
            "catalogue_kind",
            "catalogue_organization",
            "answer_days",
            "description",
        }
    assert client.get("/api/v1/institutions/salud").json["catalogue_kind"] == "dcat"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"catalogue_kind": "ckan", "catalogue_organization": None}, "catalogue_organization"),
        ({"catalogue_kind": "ckan", "catalogue_organization": ""}, "catalogue_organization"),
        ({"catalogue_kind": "ckan", "catalogue_organization": "Salud Pública"}, "catalogue_organization"),
        ({"catalogue_kind": "socrata"}, "catalogue_kind"),
        ({"catalogue_kind": 3}, "catalogue_kind"),
        ({"catalogue_url": "ftp://datos.example.gob.mx"}, "catalogue_url"),
        ({"catalogue_url": "javascript:alert(1)"}, "catalogue_url"),
        ({"catalogue_url": None}, "catalogue_url"),  # a kind without an address
        ({"answer_days": 0}, "answer_days"),
        ({"answer_days": "10"}, "answer_days"),
        ({"name": "  "}, "name"),
        ({"government_order": "galactic"}, "government_order"),
    ],
)
def test_bad_catalogue_settings_are_422(app, client, people, payload, field):
    headers = token_for(client, "enlace@salud.example")
    response = client.patch("/api/v1/institutions/salud", json=payload, headers=headers)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    with app.app_context():
        institution = db.session.execute(select(Institution).where(Institution.slug == "salud")).scalar_one()
        assert (institution.catalogue_kind, institution.catalogue_organization) == ("ckan", "salud")


def test_only_its_liaisons_and_admins_edit_an_institution(app, client, people):
    for email, status in [
        ("staff@salud.example", 403),
        ("enlace@sep.example", 403),
        ("persona@example.org", 403),
        ("admin@example.org", 200),
    ]:
        response = client.patch(
            "/api/v1/institutions/salud", json={"acronym": "SSA"}, headers=token_for(client, email)
        )
        assert response.status_code == status, email
    assert client.patch("/api/v1/institutions/salud", json={"acronym": "X"}).status_code == 401
    response = client.patch(
        "/api/v1/institutions/nope", json={}, headers=token_for(client, "admin@example.org")
    )
    assert response.status_code == 404


# --- refresh and status ---------------------------------------------------------------


def test_refresh_is_202_queued_once_and_the_status_shows_the_result(app, client, people, fake):
    assert client.get("/api/v1/institutions/salud/catalogue").json == {
        **client.get("/api/v1/institutions/salud/catalogue").json,
        "state": "idle",
        "refreshed_at": None,
        "error": None,
        "datasets": 0,
    }
    headers = token_for(client, "staff@salud.example")
    response = client.post("/api/v1/institutions/salud/catalogue/refresh", headers=headers)
    assert response.status_code == 202
    assert response.json["state"] == "queued"
    again = client.post("/api/v1/institutions/salud/catalogue/refresh", headers=headers)
    assert again.status_code == 202 and again.json["state"] == "queued"
    assert len(queued_refreshes()) == 1
    assert run_queued(app) == ["ok"]
    status = client.get("/api/v1/institutions/salud/catalogue").json
    assert status["state"] == "ok" and status["datasets"] == 5 and status["error"] is None
    assert status["refreshed_at"] and status["last_run"]["added"] == 5
    assert status["kind"] == "ckan" and status["organization"] == "salud"
    with app.app_context():
        entries = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "catalogue.refresh")
        ).scalars()
        assert [e.actor.email for e in entries] == ["staff@salud.example"]


def test_refresh_failure_shows_on_the_status(app, client, people, fake):
    with app.app_context():
        institution = db.session.execute(select(Institution).where(Institution.slug == "salud")).scalar_one()
        institution.catalogue_url = fake.url("/ckan-fails")
        db.session.commit()
    headers = token_for(client, "enlace@salud.example")
    assert client.post("/api/v1/institutions/salud/catalogue/refresh", headers=headers).status_code == 202
    assert run_queued(app) == ["error"]
    status = client.get("/api/v1/institutions/salud/catalogue").json
    assert (
        status["state"] == "error" and status["error"] == "Solr down" and status["error_code"] == "ckan_error"
    )


def test_who_may_refresh(app, client, people):
    for email in ("enlace@sep.example", "persona@example.org"):
        response = client.post(
            "/api/v1/institutions/salud/catalogue/refresh", headers=token_for(client, email)
        )
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert client.post("/api/v1/institutions/salud/catalogue/refresh").status_code == 401
    assert queued_refreshes() == []
    admin = token_for(client, "admin@example.org")
    assert client.post("/api/v1/institutions/salud/catalogue/refresh", headers=admin).status_code == 202
    assert client.post("/api/v1/institutions/nope/catalogue/refresh", headers=admin).status_code == 404
    assert client.get("/api/v1/institutions/nope/catalogue").status_code == 404


def test_refresh_without_a_catalogue_is_409(app, client, people):
    response = client.post(
        "/api/v1/institutions/sep/catalogue/refresh", headers=token_for(client, "enlace@sep.example")
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "catalogue_not_configured"


# --- datasets --------------------------------------------------------------------------


def _seed_datasets(app, fake):
    with app.app_context():
        institution = db.session.execute(select(Institution).where(Institution.slug == "salud")).scalar_one()
        catalogue.request_refresh(institution, None)
        assert catalogue.run_refresh(institution.id) == "ok"
        sep = db.session.execute(select(Institution).where(Institution.slug == "sep")).scalar_one()
        db.session.add(
            Dataset(institution_id=sep.id, source_id="911", title="Estadística 911 de salud escolar")
        )
        gone = db.session.execute(select(Dataset).where(Dataset.title == "Mortalidad materna")).scalar_one()
        from core.timeutil import utcnow

        gone.withdrawn_at = utcnow()
        db.session.commit()
        return gone.id


def test_datasets_list_search_filter_and_pagination(app, client, people, fake):
    gone_id = _seed_datasets(app, fake)
    response = client.get("/api/v1/datasets")
    assert response.status_code == 200
    assert json.loads(response.headers["X-Pagination"])["total"] == 5  # the withdrawn one is left out
    assert gone_id not in [d["id"] for d in response.json]
    titles = [d["title"] for d in client.get("/api/v1/datasets?institution=salud").json]
    assert titles == sorted(titles) and len(titles) == 4
    assert [d["title"] for d in client.get("/api/v1/datasets?q=SALUD").json] == [
        "Directorio de establecimientos de salud (CLUES)",
        "Estadística 911 de salud escolar",
        "Recursos en salud",
    ]
    assert [d["title"] for d in client.get("/api/v1/datasets?q=salud&institution=sep").json] == [
        "Estadística 911 de salud escolar"
    ]
    assert client.get("/api/v1/datasets?q=100%25").json == []  # % is a character, not a wildcard
    assert client.get("/api/v1/datasets?institution=nope").json == []
    withdrawn = client.get("/api/v1/datasets?institution=salud&withdrawn=true").json
    assert len(withdrawn) == 5 and any(d["id"] == gone_id and d["withdrawn_at"] for d in withdrawn)
    page = client.get("/api/v1/datasets?page=2&page_size=2")
    assert len(page.json) == 2 and json.loads(page.headers["X-Pagination"])["page"] == 2
    assert client.get("/api/v1/datasets?page_size=1000").status_code == 422
    assert client.get("/api/v1/datasets?withdrawn=maybe").status_code == 422
    assert client.get("/api/v1/datasets?q=" + "x" * 201).status_code == 422


def test_dataset_detail(app, client, people, fake):
    gone_id = _seed_datasets(app, fake)
    listed = client.get("/api/v1/datasets?q=Egresos").json[0]
    detail = client.get(f"/api/v1/datasets/{listed['id']}").json
    assert detail == listed
    assert detail["institution"] == "salud" and detail["formats"] == ["CSV", "ZIP"]
    assert detail["url"] == fake.url("/ckan/dataset/egresos-hospitalarios")
    assert detail["source_id"] and detail["modified_at"].startswith("2025-06-01T10:00:00")
    assert client.get(f"/api/v1/datasets/{gone_id}").json["withdrawn_at"]
    missing = client.get("/api/v1/datasets/999999")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/datasets/0").status_code == 404


def test_openapi_documents_the_catalogue_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/institutions/{slug}/catalogue",
        "/api/v1/institutions/{slug}/catalogue/refresh",
        "/api/v1/datasets",
        "/api/v1/datasets/{dataset_id}",
    ):
        assert path in paths
    assert "patch" in paths["/api/v1/institutions/{slug}"]


# --- pages -----------------------------------------------------------------------------


def test_liaison_configures_the_catalogue_in_the_form(app, client, people, fake):
    login(client, "enlace@salud.example")
    form = {
        "name": "Secretaría de Salud",
        "acronym": "SSA",
        "government_order": "federal",
        "timezone": "America/Mexico_City",
        "catalogue_url": fake.url("/dcat"),
        "catalogue_kind": "ckan",
        "catalogue_organization": "",
    }
    response = client.post("/institutions/salud/edit", data=form)
    assert response.status_code == 422
    assert "En un catálogo CKAN escribe el nombre de la organización." in response.get_data(as_text=True)
    response = client.post("/institutions/salud/edit", data={**form, "catalogue_url": ""})
    assert "Escribe la dirección del catálogo para poder traer sus datos." in response.get_data(as_text=True)
    response = client.post("/institutions/salud/edit", data={**form, "catalogue_kind": "dcat"})
    assert response.status_code == 302
    with app.app_context():
        institution = db.session.execute(select(Institution).where(Institution.slug == "salud")).scalar_one()
        assert (institution.catalogue_kind, institution.catalogue_organization) == ("dcat", None)
    page = client.get("/institutions/salud/edit").get_data(as_text=True)
    assert re.search(r'<option[^>]*selected[^>]*value="dcat"|<option[^>]*value="dcat"[^>]*selected', page)


def test_institution_page_shows_status_and_refresh_to_its_team(app, client, people, fake):
    public = client.get("/institutions/salud").get_data(as_text=True)
    assert "Actualizar ahora" not in public
    login(client, "staff@salud.example")
    page = client.get("/institutions/salud").get_data(as_text=True)
    assert "Catálogo de datos" in page and "Actualizar ahora" in page and "Sin actualizar" in page
    response = client.post("/institutions/salud/catalogue/refresh")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/institutions/salud/catalogue"
    )
    status_page = client.get("/institutions/salud/catalogue")
    text = status_page.get_data(as_text=True)
    assert "Pedimos la actualización del catálogo" in text and "En cola" in text
    assert status_page.headers["Refresh"] == "5"  # reloads itself while the refresh waits or runs
    assert "Refresh" not in client.get("/institutions/salud/catalogue?auto=0").headers
    again = client.post("/institutions/salud/catalogue/refresh", follow_redirects=True)
    assert "El catálogo ya se está actualizando." in again.get_data(as_text=True)
    assert len(queued_refreshes()) == 1
    assert run_queued(app) == ["ok"]
    done = client.get("/institutions/salud/catalogue")
    assert "Refresh" not in done.headers and "Al día" in done.get_data(as_text=True)
    page = client.get("/institutions/salud").get_data(as_text=True)
    assert "5 conjuntos de datos en su catálogo" in page


def test_strangers_cannot_refresh_from_the_page(app, client, people):
    login(client, "enlace@sep.example")
    assert client.post("/institutions/salud/catalogue/refresh").status_code == 403
    client.post("/logout")
    assert client.post("/institutions/salud/catalogue/refresh").status_code == 302  # to the login page
    assert queued_refreshes() == []


def test_status_page_in_english_and_with_an_error(app, client, people, fake):
    with app.app_context():
        institution = db.session.execute(select(Institution).where(Institution.slug == "salud")).scalar_one()
        institution.catalogue_url = fake.url("/ckan-error")
        db.session.commit()
        catalogue.request_refresh(institution, None)
        catalogue.run_refresh(institution.id)
    login(client, "enlace@salud.example")
    client.post("/language", data={"locale": "en"})
    text = client.get("/institutions/salud/catalogue").get_data(as_text=True)
    assert "The catalogue answered with an error." in text and "HTTP 500" in text
    assert "Refresh now" in text


def test_dataset_list_page(app, client, people, fake):
    _seed_datasets(app, fake)
    page = client.get("/datasets").get_data(as_text=True)
    assert "5 conjuntos de datos" in page and "Egresos hospitalarios" in page
    assert "Mortalidad materna" not in page
    assert fake.url("/ckan/dataset/egresos-hospitalarios") in page  # no dataset page yet: the catalogue's
    found = client.get("/datasets?q=clues&institution=salud").get_data(as_text=True)
    assert "1 conjunto de datos" in found and "CLUES" in found
    withdrawn = client.get("/datasets?institution=salud&withdrawn=1").get_data(as_text=True)
    assert "Mortalidad materna" in withdrawn and "Retirado del catálogo" in withdrawn
    assert client.get("/datasets?page=abc&q=" + "x" * 500).status_code == 200
