"""The challenge pages, in Spanish and English: from the institution's form to a team's
submission with a file, the jury's score, results and the showcase."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta

from sqlalchemy import select, update

from challenges import services
from challenges.models import Challenge, ShowcaseItem, ShowcaseStatus, SubmissionAttachment
from core.extensions import db
from core.timeutil import to_zone, utcnow
from demand.models import Dataset
from tests.challenges.helpers import bearer, make_challenge, submission_data
from tests.factories import login, make_institution, make_liaison, make_user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_institution_creates_and_publishes_through_the_form(client, ctx):
    institution = make_institution("semovi")
    liaison = make_liaison(institution, "enlace@semovi.gob.mx")
    login(client, liaison.email)
    now = to_zone(utcnow(), "America/Mexico_City")
    form = {
        "institution": "semovi",
        "title": "Reto de movilidad",
        "summary": "Ideas",
        "problem": "¿Cómo reducir traslados?",
        "terms": "Bases del reto.",
        "timezone": "America/Mexico_City",
        "opens_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
        "team_min": "1",
        "team_max": "3",
        "submission_limit": "1",
        "jurors_per_submission": "2",
        "rubric": "Impacto | 2\nUso de datos | 1",
        "datasets": "Viajes en metro | https://datos.cdmx.gob.mx/metro",
    }
    bad = client.post("/challenges/new", data={**form, "rubric": ""})
    assert bad.status_code == 200 and "aria-invalid" in bad.get_data(as_text=True)
    response = client.post("/challenges/new", data=form)
    assert response.status_code == 302
    challenge = db.session.execute(select(Challenge)).scalar_one()
    assert [c.name for c in challenge.rubric] == ["Impacto", "Uso de datos"]
    client.post(f"/challenges/{challenge.id}/state/publish")
    db.session.expire_all()
    assert db.session.get(Challenge, challenge.id).status == "open"
    page = client.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    assert "Reto de movilidad" in page and "Viajes en metro" in page and "Impacto" in page
    # A stranger may not see the control room.
    client.post("/logout")
    login(client, make_user().email)
    assert client.get(f"/challenges/{challenge.id}/manage").status_code == 403


def test_team_submits_with_a_file_served_safely(client, ctx, app, tmp_path):
    app.config["CHALLENGES_FILES_DIR"] = str(tmp_path)
    challenge = make_challenge(make_institution("semovi"))
    person = make_user("capitana@example.org")
    login(client, person.email)
    response = client.post(f"/challenges/{challenge.id}/teams", data={"name": "Rápidos"})
    assert response.status_code == 302
    team = services.team_of(person, challenge.id)
    form = {
        "title": "Rutas",
        "summary": "App",
        "repository_url": "https://github.com/ejemplo/rutas",
        "licence": "Apache-2.0",
        "accept_terms": "y",
    }
    disguised = client.post(
        f"/challenges/teams/{team.id}/submit",
        data={**form, "attachments": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "informe.pdf")},
        content_type="multipart/form-data",
    )
    assert disguised.status_code == 200 and "Tipo de archivo no admitido" in disguised.get_data(as_text=True)
    no_terms = client.post(f"/challenges/teams/{team.id}/submit", data={**form, "accept_terms": ""})
    assert "Acepta las bases" in no_terms.get_data(as_text=True)
    response = client.post(
        f"/challenges/teams/{team.id}/submit",
        data={**form, "attachments": (io.BytesIO(PDF), '../../etc/"informe" final.exe')},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    attachment = db.session.execute(select(SubmissionAttachment)).scalar_one()
    assert attachment.content_type == "application/pdf" and attachment.original_name.endswith(".pdf")
    stored = tmp_path / attachment.stored_name
    assert stored.read_bytes() == PDF and "informe" not in attachment.stored_name
    download = client.get(f"/challenges/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and '"' not in disposition.split("filename=")[1].strip('"')
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # Others may not download it.
    client.post("/logout")
    login(client, make_user().email)
    assert client.get(f"/challenges/attachments/{attachment.id}").status_code == 403
    # English pages.
    client.post("/language", data={"locale": "en", "next": "/"})
    page = client.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    assert "Evaluation rubric" in page and "Your team" in page


def test_juror_scores_on_the_page(client, ctx):
    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(institution, actor=liaison)
    person = make_user()
    team = services.create_team(person, challenge, "Rápidos")
    version = services.submit(person, team, submission_data())
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge.id)
        .values(closes_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    services.close_due_challenges()
    services.start_judging(liaison, services.get_challenge(challenge.id))
    juror = make_user("jurado@universidad.mx")
    services.add_juror(liaison, services.get_challenge(challenge.id), juror.email)
    services.assign(liaison, services.get_challenge(challenge.id), 1, 3)
    submission = services.get_submission(version.submission_id)
    services.set_eligibility(liaison, submission, True, "")
    login(client, juror.email)
    page = client.get(f"/challenges/{challenge.id}/jury").get_data(as_text=True)
    assert "Rutas más cortas" in page
    criteria = services.get_challenge(challenge.id).rubric
    data = {f"c{c.id}": "8" for c in criteria} | {"comment": "Muy útil"}
    response = client.post(f"/challenges/submissions/{submission.id}/score", data=data)
    assert response.status_code == 302
    assert services.scores_of(juror, challenge.id)[submission.id].comment == "Muy útil"


def test_showcase_proposal_review_and_filters(client, ctx, app, tmp_path):
    app.config["CHALLENGES_FILES_DIR"] = str(tmp_path)
    institution = make_institution("inegi")
    reviewer = make_liaison(institution)
    dataset = Dataset(
        institution_id=institution.id, source_id="censo", title="Censo 2020", url="https://inegi.mx"
    )
    db.session.add(dataset)
    db.session.commit()
    author = make_user()
    login(client, author.email)
    form = {
        "kind": "visualisation",
        "title": "Mapa del censo",
        "url": "https://mapa.example.org",
        "datasets": str(dataset.id),
    }
    fake = client.post(
        "/apps/new",
        data={**form, "screenshot": (io.BytesIO(b"GIF89a"), "x.png")},
        content_type="multipart/form-data",
    )
    assert "debe ser una imagen" in fake.get_data(as_text=True)
    response = client.post(
        "/apps/new",
        data={**form, "screenshot": (io.BytesIO(png()), "mapa.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    item = db.session.execute(select(ShowcaseItem)).scalar_one()
    assert item.status == ShowcaseStatus.pending and item.screenshot_type == "image/png"
    assert client.get("/api/v1/showcase").get_json() == []
    # Someone else's institution may not approve it.
    client.post("/logout")
    login(client, make_liaison(make_institution("otra")).email)
    assert client.post(f"/apps/{item.id}/review", data={"decision": "approve"}).status_code == 403
    client.post("/logout")
    login(client, reviewer.email)
    assert "Mapa del censo" in client.get("/apps/review").get_data(as_text=True)
    client.post(f"/apps/{item.id}/review", data={"decision": "approve"})
    db.session.expire_all()
    assert db.session.get(ShowcaseItem, item.id).status == ShowcaseStatus.published
    assert "Mapa del censo" in client.get("/apps?kind=visualisation&institution=inegi").get_data(as_text=True)
    assert "Mapa del censo" not in client.get("/apps?kind=app").get_data(as_text=True)
    assert [i["title"] for i in client.get(f"/api/v1/showcase?dataset={dataset.id}").get_json()] == [
        "Mapa del censo"
    ]
    shot = client.get(f"/apps/{item.id}/screenshot")
    assert shot.status_code == 200 and shot.mimetype == "image/png"
    # Through the API too (signed-in person; pending until reviewed).
    created = client.post(
        "/api/v1/showcase",
        json={"kind": "tool", "title": "Limpiador", "url": "https://herramienta.example.org"},
        headers=bearer(author),
    )
    assert created.status_code == 201 and created.get_json()["status"] == "pending"


def test_a_hosted_challenge_is_linked_from_its_datathon(client, ctx):
    from tests.factories import make_event

    institution = make_institution("semovi")
    datathon = make_event(institution, title="Datatón de movilidad")
    challenge = make_challenge(institution, event=datathon.id)
    page = client.get(f"/events/{datathon.id}").get_data(as_text=True)
    assert f"/challenges/{challenge.id}" in page and "Retos de este datatón" in page
    detail = client.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    assert f"/events/{datathon.id}" in detail
    dialogue = make_event(institution, kind="dialogue_table", title="Mesa")
    response = client.post(
        "/api/v1/challenges",
        json={
            "institution": "semovi",
            "title": "x",
            "problem": "y",
            "terms": "z",
            "event": dialogue.id,
            "opens_at": "2030-01-01T00:00:00",
            "closes_at": "2030-02-01T00:00:00",
            "rubric": [{"criterion": "a", "weight": 1}],
        },
        headers=bearer(make_liaison(institution)),
    )
    assert response.status_code == 422 and "event" in response.get_json()["error"]["fields"]
