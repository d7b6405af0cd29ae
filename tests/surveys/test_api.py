"""The surveys API as named in the issue: create, lifecycle with 409, answering with
201/200/409/422, results with suppression, wiki pairs and votes, exports."""

from __future__ import annotations

from datetime import timedelta

from accounts.services import add_member, issue_api_token
from core.extensions import db
from core.timeutil import utcnow
from tests.factories import make_institution, make_user
from tests.surveys.factories import EVERY_KIND


def bearer(user) -> dict[str, str]:
    _, raw = issue_api_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def setup(client, privacy="pseudonymous", questions=None, **extra):
    inst = make_institution("conagua")
    liaison = make_user()
    add_member(None, inst, liaison, "liaison")
    db.session.commit()
    headers = bearer(liaison)
    body = {
        "institution": "conagua",
        "title": "Datos del agua",
        "description": "¿Qué datos del agua necesitas?",
        "privacy": privacy,
        "closes_at": (utcnow() + timedelta(days=7)).isoformat(),
        "questions": questions or EVERY_KIND,
        **extra,
    }
    response = client.post("/api/v1/surveys", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return inst, headers, response.get_json()


def test_create_returns_ids_and_choices(app, ctx, client):
    _, headers, survey = setup(client)
    assert survey["status"] == "draft" and isinstance(survey["id"], int)
    first = survey["questions"][0]
    assert isinstance(first["id"], int)
    assert [c["label"] for c in first["choices"]] == ["Diario", "Cada semana", "Rara vez"]
    assert all(set(c) == {"id", "label"} for c in first["choices"])
    # A draft is invisible to the public.
    assert client.get(f"/api/v1/surveys/{survey['id']}").status_code == 404
    assert client.get(f"/api/v1/surveys/{survey['id']}", headers=headers).status_code == 200


def test_bad_create_is_422_and_strangers_403(app, ctx, client):
    _, headers, _survey = setup(client)
    bad = client.post(
        "/api/v1/surveys",
        json={
            "institution": "conagua",
            "title": "x",
            "privacy": "secret",
            "closes_at": "2030-01-01T00:00:00",
        },
        headers=headers,
    )
    assert bad.status_code == 422 and "privacy" in bad.get_json()["error"]["fields"]
    no_choices = client.post(
        "/api/v1/surveys",
        json={
            "institution": "conagua",
            "title": "x",
            "privacy": "anonymous",
            "closes_at": "2030-01-01T00:00:00",
            "questions": [{"kind": "single_choice", "prompt": "¿?"}],
        },
        headers=headers,
    )
    assert no_choices.status_code == 422
    stranger = bearer(make_user())
    assert (
        client.post(
            "/api/v1/surveys",
            json={
                "institution": "conagua",
                "title": "x",
                "privacy": "anonymous",
                "closes_at": "2030-01-01T00:00:00",
            },
            headers=stranger,
        ).status_code
        == 403
    )


def test_lifecycle_and_answering_contract(app, ctx, client):
    _inst, headers, survey = setup(client)
    sid = survey["id"]
    assert (
        client.post(f"/api/v1/surveys/{sid}/close", headers=headers).get_json()["error"]["code"]
        == "illegal_transition"
    )
    assert client.post(f"/api/v1/surveys/{sid}/publish-results", headers=headers).status_code == 409
    opened = client.post(f"/api/v1/surveys/{sid}/open", headers=headers)
    assert opened.status_code == 200 and opened.get_json()["status"] == "open"
    assert client.post(f"/api/v1/surveys/{sid}/open", headers=headers).status_code == 409
    q = survey["questions"]
    citizen = bearer(make_user())
    answers = {str(q[0]["id"]): q[0]["choices"][1]["id"], str(q[3]["id"]): 5}
    first = client.put(f"/api/v1/surveys/{sid}/response", json={"answers": answers}, headers=citizen)
    assert first.status_code == 201, first.get_json()
    again = client.put(f"/api/v1/surveys/{sid}/response", json={"answers": answers}, headers=citizen)
    assert again.status_code == 200
    changed = client.put(
        f"/api/v1/surveys/{sid}/response", json={"answers": {**answers, str(q[3]["id"]): 2}}, headers=citizen
    )
    assert changed.status_code == 200 and changed.get_json()["answers"][str(q[3]["id"])] == 2
    wrong = client.put(
        f"/api/v1/surveys/{sid}/response", json={"answers": {**answers, str(q[3]["id"]): 11}}, headers=citizen
    )
    assert wrong.status_code == 422 and str(q[3]["id"]) in wrong.get_json()["error"]["fields"]
    assert (
        client.get(f"/api/v1/surveys/{sid}/response", headers=citizen).get_json()["answers"][str(q[3]["id"])]
        == 2
    )
    patched = client.patch(f"/api/v1/surveys/{sid}", json={"questions": EVERY_KIND[:1]}, headers=headers)
    assert patched.status_code == 409 and patched.get_json()["error"]["code"] == "questions_locked"
    # Results: 403 for the public before publication, fine for the managers.
    assert client.get(f"/api/v1/surveys/{sid}/results").status_code == 403
    assert client.get(f"/api/v1/surveys/{sid}/results", headers=headers).status_code == 200
    assert client.post(f"/api/v1/surveys/{sid}/close", headers=headers).status_code == 200
    closed = client.put(f"/api/v1/surveys/{sid}/response", json={"answers": answers}, headers=citizen)
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "survey_closed"
    assert client.delete(f"/api/v1/surveys/{sid}/response", headers=citizen).status_code == 409
    assert client.post(f"/api/v1/surveys/{sid}/publish-results", headers=headers).status_code == 200
    results = client.get(f"/api/v1/surveys/{sid}/results").get_json()
    assert results["respondents"] == 1
    single = results["questions"][0]
    assert single["options"][1] == {
        "id": q[0]["choices"][1]["id"],
        "label": "Cada semana",
        "count": 1,
        "percent": 100.0,
    }
    # One respondent in a sector: suppressed.
    groups = results["breakdowns"]["sector"]
    assert all(g["respondents"] == "<5" for g in groups.values())
    assert "dictionary" in results


def test_delete_own_response(app, ctx, client):
    _, headers, survey = setup(client)
    sid = survey["id"]
    client.post(f"/api/v1/surveys/{sid}/open", headers=headers)
    citizen = bearer(make_user())
    q = survey["questions"]
    client.put(
        f"/api/v1/surveys/{sid}/response",
        json={"answers": {str(q[0]["id"]): q[0]["choices"][0]["id"]}},
        headers=citizen,
    )
    assert client.delete(f"/api/v1/surveys/{sid}/response", headers=citizen).status_code == 204
    assert client.get(f"/api/v1/surveys/{sid}/response", headers=citizen).status_code == 404


def test_wiki_pairs_votes_and_ideas(app, ctx, client):
    _, headers, survey = setup(client)
    sid = survey["id"]
    client.post(f"/api/v1/surveys/{sid}/open", headers=headers)
    qid = survey["questions"][8]["id"]
    citizen = bearer(make_user())
    pair = client.get(f"/api/v1/surveys/{sid}/questions/{qid}/pair", headers=citizen).get_json()
    assert set(pair) == {"token", "left", "right"} and pair["left"]["id"] != pair["right"]["id"]
    vote = client.post(
        f"/api/v1/surveys/{sid}/questions/{qid}/votes",
        json={"token": pair["token"], "choice": "left"},
        headers=citizen,
    )
    assert vote.status_code == 201
    used = client.post(
        f"/api/v1/surveys/{sid}/questions/{qid}/votes",
        json={"token": pair["token"], "choice": "right"},
        headers=citizen,
    )
    assert used.status_code == 409
    other = bearer(make_user())
    pair2 = client.get(f"/api/v1/surveys/{sid}/questions/{qid}/pair", headers=citizen).get_json()
    stolen = client.post(
        f"/api/v1/surveys/{sid}/questions/{qid}/votes",
        json={"token": pair2["token"], "choice": "skip"},
        headers=other,
    )
    assert stolen.status_code == 404  # a pair belongs to whom it was issued
    idea = client.post(
        f"/api/v1/surveys/{sid}/questions/{qid}/ideas", json={"text": "Padrón de pozos"}, headers=citizen
    )
    assert idea.status_code == 201 and idea.get_json()["status"] == "pending"
    # Not in the pool until approved.
    labels = {
        c["label"]
        for c in client.get(f"/api/v1/surveys/{sid}", headers=citizen).get_json()["questions"][8]["choices"]
    }
    assert "Padrón de pozos" not in labels
    approved = client.post(
        f"/api/v1/surveys/{sid}/ideas/{idea.get_json()['id']}/moderation",
        json={"approve": True},
        headers=headers,
    )
    assert approved.status_code == 200
    labels = {
        c["label"]
        for c in client.get(f"/api/v1/surveys/{sid}", headers=citizen).get_json()["questions"][8]["choices"]
    }
    assert "Padrón de pozos" in labels


def test_exports_respect_privacy(app, ctx, client):
    _inst, headers, survey = setup(client, privacy="pseudonymous")
    sid = survey["id"]
    client.post(f"/api/v1/surveys/{sid}/open", headers=headers)
    person = make_user(email="ana@example.org", name="Ana Rivera")
    q = survey["questions"]
    client.put(
        f"/api/v1/surveys/{sid}/response",
        json={"answers": {str(q[0]["id"]): q[0]["choices"][0]["id"], str(q[4]["id"]): "=HYPERLINK(1)"}},
        headers=bearer(person),
    )
    csv_response = client.get(f"/api/v1/surveys/{sid}/export?format=csv", headers=headers)
    assert csv_response.status_code == 200
    text = csv_response.data.decode("utf-8-sig")
    assert "Diario" in text and "ana@example.org" not in text and "Ana Rivera" not in text
    assert "'=HYPERLINK(1)" in text
    xlsx = client.get(f"/api/v1/surveys/{sid}/export?format=xlsx", headers=headers)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert (
        client.get(f"/api/v1/surveys/{sid}/export?format=csv", headers=bearer(make_user())).status_code == 403
    )


def test_submissions_are_rate_limited_per_person(app, ctx, client):
    _, headers, survey = setup(client)
    sid = survey["id"]
    client.post(f"/api/v1/surveys/{sid}/open", headers=headers)
    app.config["LIMIT_SURVEY_SUBMISSIONS"] = "3 per minute"
    citizen = bearer(make_user())
    q = survey["questions"]
    statuses = [
        client.put(
            f"/api/v1/surveys/{sid}/response",
            json={"answers": {str(q[0]["id"]): q[0]["choices"][i % 3]["id"]}},
            headers=citizen,
        ).status_code
        for i in range(4)
    ]
    assert statuses == [201, 200, 200, 429]
    limited = client.put(f"/api/v1/surveys/{sid}/response", json={"answers": {}}, headers=citizen)
    assert limited.get_json()["error"]["code"] == "rate_limited"
    # Someone else is not affected.
    other = client.put(
        f"/api/v1/surveys/{sid}/response",
        json={"answers": {str(q[0]["id"]): q[0]["choices"][0]["id"]}},
        headers=bearer(make_user()),
    )
    assert other.status_code == 201
