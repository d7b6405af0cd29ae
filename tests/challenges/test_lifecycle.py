"""Challenge lifecycle, versioned terms, teams and submissions through the API."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select, update

from challenges import services
from challenges.models import Challenge, ChallengeStatus, SubmissionVersion, Team
from challenges.services.lifecycle import terms_digest
from core.extensions import db
from core.timeutil import utcnow
from tests.challenges.helpers import RUBRIC, TERMS, bearer, make_challenge, submission_data, user_with_token
from tests.factories import make_institution, make_liaison, make_user


def _create_payload(**fields):
    now = utcnow().replace(microsecond=0)
    return {
        "institution": "semovi",
        "title": "Reto de movilidad",
        "summary": "Ideas",
        "problem": "¿Cómo reducir los traslados?",
        "terms": TERMS,
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=10)).isoformat(),
        "timezone": "America/Mexico_City",
        "team_min": 1,
        "team_max": 4,
        "submission_limit": 2,
        "rubric": RUBRIC,
        **fields,
    }


def test_create_publish_and_illegal_moves(client, ctx):
    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    headers = bearer(liaison)
    response = client.post("/api/v1/challenges", json=_create_payload(), headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft" and body["terms_version"] == 1
    assert body["terms_sha256"] == hashlib.sha256(TERMS.encode()).hexdigest()
    challenge_id = body["id"]
    # Drafts are hidden from the public.
    assert client.get(f"/api/v1/challenges/{challenge_id}").status_code == 404
    response = client.post(f"/api/v1/challenges/{challenge_id}/publish", headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "published"
    again = client.post(f"/api/v1/challenges/{challenge_id}/publish", headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "illegal_transition"
    judging = client.post(f"/api/v1/challenges/{challenge_id}/judging", headers=headers)
    assert judging.status_code == 409 and judging.get_json()["error"]["code"] == "illegal_transition"
    # A stranger may not publish or edit.
    _, other = user_with_token()
    assert (
        client.patch(f"/api/v1/challenges/{challenge_id}", json={"title": "x"}, headers=other).status_code
        == 403
    )


def test_publish_opens_at_once_when_opens_at_passed(client, ctx):
    institution = make_institution("semovi")
    headers = bearer(make_liaison(institution))
    past = (utcnow() - timedelta(hours=2)).isoformat()
    body = client.post("/api/v1/challenges", json=_create_payload(opens_at=past), headers=headers).get_json()
    response = client.post(f"/api/v1/challenges/{body['id']}/publish", headers=headers)
    assert response.get_json()["status"] == "open"


def test_bad_input_is_a_clear_4xx(client, ctx):
    institution = make_institution("semovi")
    headers = bearer(make_liaison(institution))
    bad_window = _create_payload(closes_at=(utcnow() - timedelta(days=3)).isoformat())
    response = client.post("/api/v1/challenges", json=bad_window, headers=headers)
    assert response.status_code == 422 and "closes_at" in response.get_json()["error"]["fields"]
    response = client.post(
        "/api/v1/challenges", json=_create_payload(team_min=5, team_max=2), headers=headers
    )
    assert response.status_code == 422
    response = client.post("/api/v1/challenges", json=_create_payload(rubric=[]), headers=headers)
    assert response.status_code == 422
    response = client.post("/api/v1/challenges", json=_create_payload(event=999), headers=headers)
    assert response.status_code == 422 and "event" in response.get_json()["error"]["fields"]


def test_new_terms_text_is_a_new_version_and_submissions_keep_theirs(client, ctx):
    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(institution, actor=liaison)
    _user, headers = user_with_token()
    team = client.post(f"/api/v1/challenges/{challenge.id}/teams", json={"name": "Rápidos"}, headers=headers)
    team_id = team.get_json()["id"]
    first = client.post(f"/api/v1/teams/{team_id}/submissions", json=submission_data(), headers=headers)
    assert first.status_code == 201 and first.get_json()["version"] == 1
    new_terms = TERMS + "\nAdenda: el jurado puede pedir una demostración."
    response = client.patch(
        f"/api/v1/challenges/{challenge.id}", json={"terms": new_terms}, headers=bearer(liaison)
    )
    assert response.get_json()["terms_version"] == 2
    second = client.put(
        f"/api/v1/submissions/{first.get_json()['id']}", json=submission_data(title="v2"), headers=headers
    )
    assert second.status_code == 200 and second.get_json()["version"] == 2
    versions = (
        db.session.execute(select(SubmissionVersion).order_by(SubmissionVersion.version)).scalars().all()
    )
    assert [(v.terms_version, v.terms_sha256) for v in versions] == [
        (1, terms_digest(TERMS)),
        (2, terms_digest(new_terms)),
    ]
    refused = client.post(
        f"/api/v1/teams/{team_id}/submissions", json=submission_data(accept_terms=False), headers=headers
    )
    assert refused.status_code == 422


def test_teams_one_per_person_size_limit_and_invites(client, ctx):
    institution = make_institution("semovi")
    challenge = make_challenge(institution, team_max=2)
    _captain, headers = user_with_token()
    created = client.post(
        f"/api/v1/challenges/{challenge.id}/teams", json={"name": "Rápidos"}, headers=headers
    )
    assert created.status_code == 201
    team_id, token = created.get_json()["id"], created.get_json()["invite_token"]
    again = client.post(f"/api/v1/challenges/{challenge.id}/teams", json={"name": "Otro"}, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_in_team"
    _, joiner = user_with_token()
    assert (
        client.post(
            f"/api/v1/teams/{team_id}/members", json={"invite_token": token}, headers=joiner
        ).status_code
        == 201
    )
    _, late = user_with_token()
    full = client.post(f"/api/v1/teams/{team_id}/members", json={"invite_token": token}, headers=late)
    assert full.status_code == 409 and full.get_json()["error"]["code"] == "team_full"
    forged = client.post(f"/api/v1/teams/{team_id}/members", json={"invite_token": "x" + token}, headers=late)
    assert forged.status_code == 403
    joined_twice = client.post(
        f"/api/v1/teams/{team_id}/members", json={"invite_token": token}, headers=joiner
    )
    assert joined_twice.get_json()["error"]["code"] == "already_in_team"
    # An unverified person cannot form a team.
    _, unverified = user_with_token(verified=False)
    response = client.post(
        f"/api/v1/challenges/{challenge.id}/teams", json={"name": "Nuevos"}, headers=unverified
    )
    assert response.status_code == 403


def test_legal_entity_rfc_is_checked(client, ctx):
    challenge = make_challenge(make_institution("semovi"))
    _, headers = user_with_token()
    team_id = client.post(
        f"/api/v1/challenges/{challenge.id}/teams", json={"name": "A"}, headers=headers
    ).get_json()["id"]
    bad = client.patch(
        f"/api/v1/teams/{team_id}", json={"legal_name": "Datos SA", "rfc": "XYZ"}, headers=headers
    )
    assert bad.status_code == 422 and "rfc" in bad.get_json()["error"]["fields"]
    bad_date = client.patch(
        f"/api/v1/teams/{team_id}", json={"legal_name": "Datos SA", "rfc": "DAT011399AB1"}, headers=headers
    )
    assert bad_date.status_code == 422
    good = client.patch(
        f"/api/v1/teams/{team_id}",
        json={"legal_name": "Datos SA de CV", "rfc": "dat010203ab1"},
        headers=headers,
    )
    assert good.status_code == 200 and good.get_json()["rfc"] == "DAT010203AB1"


def test_submission_limit_counts_solutions_and_close_refuses(client, ctx):
    challenge = make_challenge(make_institution("semovi"), submission_limit=1)
    _, headers = user_with_token()
    team_id = client.post(
        f"/api/v1/challenges/{challenge.id}/teams", json={"name": "A"}, headers=headers
    ).get_json()["id"]
    first = client.post(f"/api/v1/teams/{team_id}/submissions", json=submission_data(), headers=headers)
    assert first.status_code == 201
    second = client.post(f"/api/v1/teams/{team_id}/submissions", json=submission_data(), headers=headers)
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "submission_limit"
    bad_licence = client.put(
        f"/api/v1/submissions/{first.get_json()['id']}",
        json=submission_data(licence="WTFPL-9"),
        headers=headers,
    )
    assert bad_licence.status_code == 422
    # The close passes (before the beat even runs): no new version is accepted.
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge.id)
        .values(closes_at=utcnow() - timedelta(seconds=1), opens_at=utcnow() - timedelta(days=1))
    )
    db.session.commit()
    late = client.put(
        f"/api/v1/submissions/{first.get_json()['id']}", json=submission_data(), headers=headers
    )
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "submissions_closed"
    # The beat closes it and freezes the team.
    assert services.close_due_challenges() == 1
    db.session.expire_all()
    assert db.session.get(Challenge, challenge.id).status == ChallengeStatus.closed
    assert db.session.get(Team, team_id).frozen_at is not None


def test_beat_opens_and_tells_followers(client, ctx, mail_dir):
    from accounts.services import follow_institution
    from tests.factories import deliver_outbox, mails_to

    institution = make_institution("semovi")
    follower = make_user("sigue@example.org")
    follow_institution(follower, institution)
    db.session.commit()
    challenge = make_challenge(institution, opens_at=utcnow() + timedelta(hours=1))
    assert challenge.status == ChallengeStatus.published
    db.session.execute(
        update(Challenge).where(Challenge.id == challenge.id).values(opens_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    assert services.open_due_challenges() == 1
    deliver_outbox()
    assert any("Reto de movilidad" in m["Subject"] for m in mails_to(mail_dir, "sigue@example.org"))


def test_cancel_needs_reason_and_tells_teams(client, ctx, mail_dir):
    from tests.factories import deliver_outbox, mails_to

    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(institution, actor=liaison)
    member = make_user("equipo@example.org")
    services.create_team(member, challenge, "Rápidos")
    headers = bearer(liaison)
    assert (
        client.post(f"/api/v1/challenges/{challenge.id}/cancel", json={}, headers=headers).status_code == 422
    )
    response = client.post(
        f"/api/v1/challenges/{challenge.id}/cancel", json={"reason": "Sin presupuesto"}, headers=headers
    )
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    deliver_outbox()
    (mail,) = mails_to(mail_dir, "equipo@example.org")
    assert "Sin presupuesto" in mail.get_body(preferencelist=("plain",)).get_content()
    again = client.post(f"/api/v1/challenges/{challenge.id}/cancel", json={"reason": "x"}, headers=headers)
    assert again.status_code == 409
