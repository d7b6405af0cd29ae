"""The demand pages, without JavaScript: request (similar first), item, answer, comments,
dataset, report with exports, accountability, the admin's non-working days."""

from __future__ import annotations

import json
from datetime import date, timedelta

from babel.dates import format_date
from sqlalchemy import select

from core.extensions import db
from demand import items, reports
from demand.models import Comment, DemandItem, DemandStatus, NonWorkingDay
from tests.demand.helpers import citizen, dataset, request
from tests.factories import (
    deliver_outbox,
    login,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)


def _setup(app):
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        make_liaison(inegi, "enlace@inegi.example.org")
        citizen("lucia@example.org")
        dataset(inegi, "Accidentes de tránsito terrestre en zonas urbanas")
        return inegi.id


def test_a_request_shows_similar_items_first_then_files(app, client):
    _setup(app)
    login(client, "lucia@example.org")
    form = {
        "institution": "inegi",
        "kind": "publish",
        "title": "Accidentes de tránsito municipales",
        "description": "Por mes",
        "intended_use": "journalism",
        "dataset": "",
    }
    first = client.post("/demand/new", data=form)
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "¿Es alguna de estas?" in page and "Accidentes de tránsito terrestre en zonas urbanas" in page
    with app.app_context():
        assert db.session.query(DemandItem).count() == 0
    filed = client.post("/demand/new", data={**form, "confirm": "1"})
    assert filed.status_code == 302
    detail = client.get(filed.headers["Location"])
    text = detail.get_data(as_text=True)
    assert "Accidentes de tránsito municipales" in text and "Recibimos tu solicitud" in text
    assert "1 persona apoya" in text


def test_the_request_form_refuses_bad_input(app, client):
    _setup(app)
    login(client, "lucia@example.org")
    response = client.post(
        "/demand/new",
        data={
            "institution": "inegi",
            "kind": "question",
            "title": "¿Qué?",
            "intended_use": "research",
            "dataset": "",
            "confirm": "1",
        },
    )
    assert response.status_code == 422
    assert "Una pregunta es sobre un conjunto de datos del catálogo" in response.get_data(as_text=True)
    assert client.post("/demand/new", data={"institution": "", "kind": "publish"}).status_code == 422


def test_support_follow_and_answer_through_the_pages(app, client, mail_dir):
    _setup(app)
    with app.app_context():
        from core.models import Institution

        item_id = request(citizen("pedro@example.org"), db.session.get(Institution, 1)).id
    login(client, "lucia@example.org")
    client.post(f"/demand/{item_id}/support", data={"action": "support"})
    page = client.get(f"/demand/{item_id}").get_data(as_text=True)
    assert "2 personas apoyan" in page and "Retirar mi apoyo" in page
    assert "Responder en nombre de la institución" not in page
    assert client.post(f"/demand/{item_id}/answer", data={"status": "under_review"}).status_code == 403
    client.post("/logout")
    login(client, "enlace@inegi.example.org")
    page = client.get(f"/demand/{item_id}").get_data(as_text=True)
    assert "Responder en nombre de la institución" in page
    missing = client.post(f"/demand/{item_id}/answer", data={"status": "scheduled"}, follow_redirects=True)
    assert "Indica la fecha comprometida" in missing.get_data(as_text=True)
    committed = (date.today() + timedelta(days=15)).isoformat()
    done = client.post(
        f"/demand/{item_id}/answer",
        data={"status": "scheduled", "committed_on": committed},
        follow_redirects=True,
    )
    text = done.get_data(as_text=True)
    # The date as people read it, not the ISO string that was typed.
    words = format_date(date.fromisoformat(committed), "long", locale="es_MX")
    assert f"se comprometió a publicar los datos el {words}" in text
    with app.app_context():
        deliver_outbox()
    assert len(mails_to(mail_dir, "lucia@example.org")) == 1
    assert len(mails_to(mail_dir, "pedro@example.org")) == 1


def test_comments_edit_flag_hide(app, client, mail_dir):
    _setup(app)
    with app.app_context():
        from core.models import Institution

        item_id = request(citizen("pedro@example.org"), db.session.get(Institution, 1)).id
    login(client, "lucia@example.org")
    posted = client.post(f"/demand/{item_id}/comments", data={"body": "Lo **necesito** <script>x</script>"})
    assert posted.status_code == 302
    page = client.get(f"/demand/{item_id}").get_data(as_text=True)
    assert "<strong>necesito</strong>" in page and "<script>x" not in page
    with app.app_context():
        comment_id = db.session.execute(select(Comment.id)).scalar_one()
    assert client.post(f"/comments/{comment_id}/edit", data={"body": "Lo necesito pronto"}).status_code == 302
    client.post("/logout")
    login(client, "pedro@example.org")
    assert client.post(f"/comments/{comment_id}/edit", data={"body": "ajeno"}).status_code == 403
    client.post(f"/comments/{comment_id}/flag")
    assert client.post(f"/comments/{comment_id}/hide", data={"reason": "x"}).status_code == 403
    client.post("/logout")
    login(client, "enlace@inegi.example.org")
    moderation = client.get("/institutions/inegi/demand/moderation").get_data(as_text=True)
    assert "Lo necesito pronto" in moderation and "1 reporte" in moderation
    client.post(f"/comments/{comment_id}/hide", data={"reason": "Datos personales de un tercero"})
    page = client.get(f"/demand/{item_id}").get_data(as_text=True)
    assert "Lo necesito pronto" not in page and "Datos personales de un tercero" in page
    with app.app_context():
        deliver_outbox()
    assert any("Ocultamos" in m["Subject"] for m in mails_to(mail_dir, "lucia@example.org"))
    # An official reply is marked.
    client.post(f"/demand/{item_id}/comments", data={"body": "Lo revisamos."})
    assert "Respuesta oficial" in client.get(f"/demand/{item_id}").get_data(as_text=True)


def test_dataset_page_lists_demand_questions_comments_and_uses(app, client):
    _setup(app)
    with app.app_context():
        from core.models import Institution
        from events import services as events

        inegi = db.session.get(Institution, 1)
        census = dataset(inegi, "Censo de Población 2020", url="https://datos.example.org/censo-2020")
        request(citizen(), inegi, title="Censo por manzana", dataset_id=census.id)
        request(citizen(), inegi, kind="question", title="¿Qué es P_15YMAS?", dataset_id=census.id)
        make_event(inegi, title="Datatón del censo", datasets=[{"title": "Censo", "url": census.url}])
        census_id = census.id
        assert events  # the provider is wired by the app, not imported here
    page = client.get(f"/datasets/{census_id}").get_data(as_text=True)
    for text in (
        "Censo de Población 2020",
        "Publicar datos",
        "¿Qué es P_15YMAS?",
        "Datatón del censo",
        "https://datos.example.org/censo-2020",
        f'href="/apps?dataset={census_id}"',  # the showcase of what was built with it
    ):
        assert text in page
    assert client.get("/datasets/999999").status_code == 404


def test_report_dashboard_exports_and_public_accountability(app, client):
    _setup(app)
    with app.app_context():
        from core.models import Institution

        inegi = db.session.get(Institution, 1)
        item = request(citizen(), inegi, title='=HYPERLINK("x")')
        for _ in range(6):
            items.support(citizen(sector="journalism"), item)
        reports.compute_report(inegi.id)
    assert client.get("/institutions/inegi/demand/report").status_code == 302  # sign in first
    login(client, "lucia@example.org")
    assert client.get("/institutions/inegi/demand/report").status_code == 403
    client.post("/logout")
    login(client, "enlace@inegi.example.org")
    page = client.get("/institutions/inegi/demand/report").get_data(as_text=True)
    assert "<svg" in page and "<title" in page and "<table" in page
    assert "Periodismo" in page and "&lt;5" in page
    csv_text = client.get("/institutions/inegi/demand/report.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in csv_text
    data = json.loads(client.get("/institutions/inegi/demand/report.json").get_data(as_text=True))
    assert data["items"][0]["supporters"] == 7
    assert (
        data["breakdowns"]["sector"]["cells"] == {"journalism": 6, "academia": None}
        or data["breakdowns"]["sector"]["cells"]["academia"] is None
    )
    assert client.post("/institutions/inegi/demand/report").status_code == 302
    public = client.get("/institutions/inegi/accountability").get_data(as_text=True)
    assert "Solicitudes recibidas" in public
    assert "inegi" in client.get("/accountability").get_data(as_text=True)
    institution_page = client.get("/institutions/inegi").get_data(as_text=True)
    assert (
        "/institutions/inegi/accountability" in institution_page
        and "/demand/new?institution=inegi" in institution_page
    )


def test_admins_add_non_working_days_and_deadlines_move(app, client):
    _setup(app)
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client, "enlace@inegi.example.org")
    assert client.get("/admin/non-working-days").status_code == 403
    client.post("/logout")
    login(client, "admin@example.org")
    day = (date.today() + timedelta(days=3)).isoformat()
    response = client.post("/admin/non-working-days", data={"day": day, "description": "Acuerdo anual"})
    assert response.status_code == 302
    assert "Acuerdo anual" in client.get("/admin/non-working-days").get_data(as_text=True)
    assert (
        client.post("/admin/non-working-days", data={"day": day, "description": "Otra vez"}).status_code
        == 422
    )
    client.post(f"/admin/non-working-days/{day}/delete")
    with app.app_context():
        assert db.session.query(NonWorkingDay).count() == 0


def test_list_and_header_link(app, client):
    _setup(app)
    with app.app_context():
        from core.models import Institution

        request(citizen(), db.session.get(Institution, 1), title="Padrón de escuelas")
    page = client.get("/demand?institution=inegi&sort=recent").get_data(as_text=True)
    assert "Padrón de escuelas" in page and 'href="/demand"' in page
    assert "Padrón de escuelas" not in client.get("/demand?status=published").get_data(as_text=True)
    assert client.get("/demand?page=abc&status=zzz").status_code == 200
    assert client.get("/demand/999999").status_code == 404


def test_statuses_are_all_labelled():
    from demand.labels import STATUS_LABELS

    assert set(STATUS_LABELS) == set(DemandStatus)


def test_admins_set_the_answer_deadline_of_an_institution(app, client):
    _setup(app)
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client, "enlace@inegi.example.org")
    assert client.post("/institutions/inegi/demand/answer-days", data={"answer_days": "5"}).status_code == 403
    client.post("/logout")
    login(client, "admin@example.org")
    client.post("/institutions/inegi/demand/answer-days", data={"answer_days": "99"})
    client.post("/institutions/inegi/demand/answer-days", data={"answer_days": "15"})
    with app.app_context():
        from core.models import Institution

        assert db.session.get(Institution, 1).answer_days == 15
    assert "15 días hábiles" in client.get("/institutions/inegi/accountability").get_data(as_text=True)
