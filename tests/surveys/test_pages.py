"""Pages: the list, answering without JavaScript (every kind), my answers, the builder,
preview, results with SVG and tables, wiki voting, moderation, invitations, exports."""

from __future__ import annotations

from accounts.services import add_member
from core.extensions import db
from surveys import services
from surveys.models import SurveyResponse
from tests.factories import login, make_institution, make_user
from tests.surveys.factories import EVERY_KIND, choice_id, make_dataset, make_survey


def liaison_of(inst):
    user = make_user()
    add_member(None, inst, user, "liaison")
    db.session.commit()
    return user


def test_list_and_answer_every_kind_through_the_form(app, ctx, client):
    inst = make_institution("conagua")
    air = make_dataset(inst, "Calidad del aire")
    survey = make_survey(inst, questions=EVERY_KIND, title="Encuesta del agua")
    page = client.get("/surveys")
    assert page.status_code == 200 and "Encuesta del agua" in page.get_data(as_text=True)
    person = make_user()
    login(client, person.email)
    form_page = client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert "Seudónima" in form_page and "<fieldset" in form_page and "Calidad del aire" in form_page
    q = survey.questions
    data = {
        f"q{q[0].id}": str(choice_id(survey, 0, "Diario")),
        f"q{q[1].id}": [str(choice_id(survey, 1, "CSV")), str(choice_id(survey, 1, "JSON"))],
        f"q{q[2].id}_c{choice_id(survey, 2, 'Educación')}": "1",
        f"q{q[2].id}_c{choice_id(survey, 2, 'Salud')}": "2",
        f"q{q[3].id}": "5",
        f"q{q[4].id}": "Investigadora",
        f"q{q[5].id}": "Datos abiertos por colonia",
        f"q{q[6].id}": "7",
        f"q{q[7].id}_datasets": str(air.id),
        f"q{q[7].id}_new_title": "Padrón de pozos",
        f"q{q[7].id}_use": "research",
        "sector": "academia",
        "state": "Jalisco",
    }
    response = client.post(f"/surveys/{survey.id}", data=data)
    assert response.status_code == 302
    stored = db.session.execute(db.select(SurveyResponse)).scalar_one()
    assert stored.answers[str(q[2].id)] == [choice_id(survey, 2, "Educación"), choice_id(survey, 2, "Salud")]
    assert stored.answers[str(q[7].id)]["new"] == [{"title": "Padrón de pozos", "description": ""}]
    assert (stored.sector, stored.state, stored.intended_use) == ("academia", "Jalisco", "research")
    again = client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert "Ya respondiste" in again and 'value="Investigadora"' in again
    # A wrong value comes back with the error next to its question.
    bad = client.post(f"/surveys/{survey.id}", data={**data, f"q{q[6].id}": "900"})
    assert bad.status_code == 422, bad.get_data(as_text=True)[-1500:]
    assert f'id="q{q[6].id}-error"' in bad.get_data(as_text=True)
    mine = client.get("/surveys/mine").get_data(as_text=True)
    assert "Encuesta del agua" in mine and "Enviadas" in mine
    assert client.post(f"/surveys/{survey.id}/withdraw").status_code == 302
    assert db.session.execute(db.select(SurveyResponse)).first() is None


def test_english_pages(app, ctx, client):
    survey = make_survey(make_institution("conagua"), privacy="anonymous")
    client.post("/language", data={"locale": "en"})
    text = client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert "Anonymous" in text and "Closes" in text


def test_builder_preview_lifecycle_results(app, ctx, client):
    inst = make_institution("conagua")
    liaison = liaison_of(inst)
    login(client, liaison.email)
    created = client.post(
        "/surveys/new?institution=conagua",
        data={
            "title": "Prioridades de datos",
            "privacy": "identified",
            "closes_at": "2030-05-01T18:00",
            "timezone": "America/Mexico_City",
            "suppression_threshold": "5",
        },
    )
    assert created.status_code == 302
    survey_id = int(created.headers["Location"].rstrip("/").split("/")[-2])
    added = client.post(
        f"/surveys/{survey_id}/questions",
        data={
            "q-kind": "single_choice",
            "q-prompt": "¿Usas datos?",
            "q-choices": "Sí\nNo",
            "q-required": "y",
        },
    )
    assert added.status_code == 302
    survey = services.get_survey(survey_id)
    first = survey.questions[0]
    client.post(
        f"/surveys/{survey_id}/questions",
        data={
            "q-kind": "short_text",
            "q-prompt": "¿Cuáles?",
            "q-show_if_question": str(first.id),
            "q-show_if_choices": "Sí",
        },
    )
    db.session.expire_all()
    survey = services.get_survey(survey_id)
    assert survey.questions[1].show_if == {"question": first.id, "choices": [first.choices[0].id]}
    edit_page = client.get(f"/surveys/{survey_id}/edit").get_data(as_text=True)
    assert "¿Cuáles?" in edit_page
    preview = client.get(f"/surveys/{survey_id}/preview").get_data(as_text=True)
    assert "Vista previa" in preview and "Responde solo si" in preview
    assert client.post(f"/surveys/{survey_id}/open").status_code == 302
    assert services.get_survey(survey_id).status == "open"
    copy = client.post(f"/surveys/{survey_id}/duplicate")
    assert copy.status_code == 302
    # Answer as a citizen, then close and publish.
    client.post("/logout")
    citizen = make_user()
    login(client, citizen.email)
    client.post(f"/surveys/{survey_id}", data={f"q{first.id}": str(first.choices[0].id)})
    client.post("/logout")
    login(client, liaison.email)
    client.post(f"/surveys/{survey_id}/close")
    client.post(f"/surveys/{survey_id}/publish-results")
    results = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "<svg" in results and "<table" in results and "<desc" in results
    data = client.get(f"/surveys/{survey_id}/results.json").get_json()
    assert data["results"]["respondents"] == 1 and "dictionary" in data


def test_results_hidden_before_publication_unless_live(app, ctx, client):
    inst = make_institution("conagua")
    hidden = make_survey(inst)
    live = make_survey(inst, live_results=True)
    assert client.get(f"/surveys/{hidden.id}/results").status_code == 403
    assert client.get(f"/surveys/{live.id}/results").status_code == 200


def test_wiki_voting_page_and_moderation(app, ctx, client):
    inst = make_institution("conagua")
    survey = make_survey(inst, questions=[EVERY_KIND[8]])
    question = survey.questions[0]
    citizen = make_user()
    login(client, citizen.email)
    page = client.get(f"/surveys/{survey.id}/questions/{question.id}/compare").get_data(as_text=True)
    assert 'name="token"' in page
    token = page.split('name="token" value="')[1].split('"')[0]
    voted = client.post(
        f"/surveys/{survey.id}/questions/{question.id}/compare", data={"token": token, "choice": "skip"}
    )
    assert voted.status_code == 302
    client.post(f"/surveys/{survey.id}/questions/{question.id}/ideas", data={"text": "Registro de descargas"})
    client.post("/logout")
    liaison = liaison_of(inst)
    login(client, liaison.email)
    moderation = client.get(f"/surveys/{survey.id}/moderation").get_data(as_text=True)
    assert "Registro de descargas" in moderation
    idea = next(
        c for c in services.get_survey(survey.id).questions[0].choices if c.label == "Registro de descargas"
    )
    client.post(f"/surveys/{survey.id}/moderation", data={"idea": str(idea.id), "decision": "approve"})
    db.session.expire_all()
    assert str(db.session.get(type(idea), idea.id).status) == "approved"


def test_invitations_page_and_link(app, ctx, client):
    inst = make_institution("conagua")
    survey = make_survey(inst, invitation_only=True)
    liaison = liaison_of(inst)
    login(client, liaison.email)
    page = client.post(f"/surveys/{survey.id}/invitations", data={"count": "2", "label": "Mesa"})
    links = [line for line in page.get_data(as_text=True).split() if "/surveys/invitation/" in line]
    assert links
    client.post("/logout")
    citizen = make_user()
    login(client, citizen.email)
    path = links[0][links[0].index("/surveys/invitation/") :].split("<")[0].split('"')[0]
    assert client.get(path).status_code == 302
    assert services.has_access(citizen, services.get_survey(survey.id))


def test_export_downloads_and_large_export_goes_to_the_worker(app, ctx, client):
    inst = make_institution("conagua")
    survey = make_survey(inst, privacy="identified")
    person = make_user(name="Ana Rivera")
    services.submit_response(person, survey, {str(survey.questions[0].id): choice_id(survey, 0, "Sí")})
    liaison = liaison_of(inst)
    login(client, liaison.email)
    csv_text = client.get(f"/surveys/{survey.id}/export?format=csv").data.decode("utf-8-sig")
    assert "Ana Rivera" in csv_text  # identified: the institution sees who answered
    app.config["SURVEY_EXPORT_SYNC_LIMIT"] = 0
    queued = client.get(f"/surveys/{survey.id}/export?format=xlsx")
    assert queued.status_code == 302 and "/exports/" in queued.headers["Location"]
    export_id = int(queued.headers["Location"].rstrip("/").split("/")[-1])
    status = client.get(f"/surveys/{survey.id}/exports/{export_id}").get_data(as_text=True)
    assert "<progress" in status
    from surveys.services.exports import build_export

    assert build_export(export_id) == "ready"
    download = client.get(f"/surveys/{survey.id}/exports/{export_id}/download")
    assert download.status_code == 200 and download.data[:2] == b"PK"
