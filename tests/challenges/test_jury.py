"""The jury: conflicts, seeded assignment, the eligibility gate, scores, ranking, the audit
export, results, the community vote and awards."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select, update

from challenges import services
from challenges.models import Challenge, ShowcaseItem, ShowcaseStatus
from core.extensions import db
from core.timeutil import utcnow
from tests.challenges.helpers import bearer, make_challenge, submission_data
from tests.factories import deliver_outbox, mails_to, make_institution, make_liaison, make_user


def _closed_challenge_with_teams(n_teams: int = 4, **fields):
    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(institution, actor=liaison, **fields)
    submissions = []
    for n in range(n_teams):
        person = make_user(f"equipo{n}@equipo{n}.mx")
        team = services.create_team(person, challenge, f"Equipo {n}")
        version = services.submit(person, team, submission_data(title=f"Solución {n}"))
        submissions.append(services.get_submission(version.submission_id))
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge.id)
        .values(closes_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    services.close_due_challenges()
    challenge = services.get_challenge(challenge.id)
    services.start_judging(liaison, challenge)
    return services.get_challenge(challenge.id), liaison, submissions


def test_jurors_conflicts_and_reproducible_assignment(client, ctx, mail_dir):
    challenge, liaison, submissions = _closed_challenge_with_teams()
    headers = bearer(liaison)
    jurors = [make_user(f"jurado{n}@universidad{n}.mx") for n in range(3)]
    for juror in jurors:
        response = client.post(
            f"/api/v1/challenges/{challenge.id}/jurors", json={"email": juror.email}, headers=headers
        )
        assert response.status_code == 201 and response.get_json()["joined"] is True
    # Same email domain as team 0's member: an automatic conflict.
    colleague = make_user("colega@equipo0.mx")
    client.post(f"/api/v1/challenges/{challenge.id}/jurors", json={"email": colleague.email}, headers=headers)
    unknown = client.post(
        f"/api/v1/challenges/{challenge.id}/jurors", json={"email": "nueva@jurado.mx"}, headers=headers
    )
    assert unknown.status_code == 201 and unknown.get_json()["joined"] is False
    dup = client.post(
        f"/api/v1/challenges/{challenge.id}/jurors", json={"email": "NUEVA@jurado.mx"}, headers=headers
    )
    assert dup.status_code == 409
    deliver_outbox()
    assert mails_to(mail_dir, "nueva@jurado.mx") and mails_to(mail_dir, jurors[0].email)
    # Juror 1 declares a conflict with team 1.
    team1 = submissions[1].team_id
    declared = client.post(
        f"/api/v1/challenges/{challenge.id}/conflicts",
        json={"team": team1, "reason": "Asesoré a este equipo"},
        headers=bearer(jurors[1]),
    )
    assert declared.status_code == 201
    not_juror = client.post(
        f"/api/v1/challenges/{challenge.id}/conflicts",
        json={"team": team1, "reason": "x"},
        headers=bearer(make_user()),
    )
    assert not_juror.status_code == 403
    plan = client.post(
        f"/api/v1/challenges/{challenge.id}/assignments",
        json={"per_submission": 3, "seed": 42},
        headers=headers,
    ).get_json()
    again = services.plan_assignment(challenge.id, 3, 42)
    assert {a["submission"]: a["jurors"] for a in plan["assignments"]} == again.by_submission
    conflict_map = services.conflicts(challenge.id)
    by_user = {j.user_id: j.id for j in services.jurors_of(challenge.id) if j.user_id}
    for item in plan["assignments"]:
        team_id = next(s.team_id for s in submissions if s.id == item["submission"])
        assert len(item["jurors"]) == 3
        assert not any(conflict_map.conflicted(j, team_id) for j in item["jurors"])
    team0_jurors = next(a["jurors"] for a in plan["assignments"] if a["submission"] == submissions[0].id)
    assert by_user[colleague.id] not in team0_jurors
    team1_jurors = next(a["jurors"] for a in plan["assignments"] if a["submission"] == submissions[1].id)
    assert by_user[jurors[1].id] not in team1_jurors
    mine = client.get("/api/v1/me/assignments", headers=bearer(jurors[0])).get_json()
    assert mine and all(not row["scored"] for row in mine)


def test_gate_scores_conflicts_ranking_results_and_awards(client, ctx, mail_dir):
    challenge, liaison, submissions = _closed_challenge_with_teams(3, community_vote=True)
    headers = bearer(liaison)
    a, b = make_user("a@jurados.mx"), make_user("b@jurados.mx")
    colleague = make_user("colega@equipo0.mx")
    for juror in (a, b):
        services.add_juror(liaison, challenge, juror.email)
    services.assign(liaison, challenge, 2, 7)
    services.add_juror(liaison, challenge, colleague.email)
    s0, s1, s2 = submissions
    scores = {"Impacto": 8, "Uso de datos": 5}
    # Conflicted juror: 403 conflict_of_interest even when asking for it.
    response = client.put(
        f"/api/v1/submissions/{s0.id}/score", json={"scores": scores}, headers=bearer(colleague)
    )
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "conflict_of_interest"
    # Not eligible yet: refused.
    response = client.put(f"/api/v1/submissions/{s1.id}/score", json={"scores": scores}, headers=bearer(a))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_eligible"
    for s in submissions:
        ok = client.post(f"/api/v1/submissions/{s.id}/eligibility", json={"eligible": True}, headers=headers)
        assert ok.status_code == 200
    fail_without_reason = client.post(
        f"/api/v1/submissions/{s2.id}/eligibility", json={"eligible": False}, headers=headers
    )
    assert fail_without_reason.status_code == 422
    # A stranger is not assigned.
    response = client.put(
        f"/api/v1/submissions/{s1.id}/score", json={"scores": scores}, headers=bearer(make_user())
    )
    assert response.status_code == 403
    bad = client.put(
        f"/api/v1/submissions/{s1.id}/score", json={"scores": {"Impacto": 11}}, headers=bearer(a)
    )
    assert bad.status_code == 422
    given = {}
    for juror in (a, b):
        for n, s in enumerate(submissions):
            values = {"Impacto": 9 - n, "Uso de datos": 6}
            response = client.put(
                f"/api/v1/submissions/{s.id}/score",
                json={"scores": values, "comment": "Bien"},
                headers=bearer(juror),
            )
            assert response.status_code == 200, response.get_json()
            given[(juror.id, s.id)] = values
    # Edit one score: kept in the audit export.
    client.put(
        f"/api/v1/submissions/{s2.id}/score",
        json={"scores": {"Impacto": 9, "Uso de datos": 6}},
        headers=bearer(a),
    )
    ranking = client.get(f"/api/v1/challenges/{challenge.id}/results", headers=headers).get_json()
    assert ranking["published"] is False
    rows = ranking["ranking"]
    assert rows[0]["submission"] == s0.id and rows[0]["rank"] == 1 and not rows[0]["tied"]
    assert all(set(r) >= {"team", "submission", "weighted_mean", "z_score", "jurors"} for r in rows)
    assert all(r["jurors"] == 2 and not r["under_minimum"] for r in rows)
    public = client.get(f"/api/v1/challenges/{challenge.id}/results").get_json()
    assert public == {"published": False, "ranking": []}
    csv_text = services.audit_csv(challenge)
    lines = list(csv.reader(io.StringIO(csv_text)))
    assert lines[0][:5] == ["changed_at", "change", "submission", "team", "juror"]
    assert len(lines) == 1 + 7 and lines[-1][1] == "changed"
    # Community vote: one per person.
    voter = make_user()
    assert (
        client.post(
            f"/api/v1/challenges/{challenge.id}/votes", json={"submission": s1.id}, headers=bearer(voter)
        ).status_code
        == 201
    )
    twice = client.post(
        f"/api/v1/challenges/{challenge.id}/votes", json={"submission": s0.id}, headers=bearer(voter)
    )
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_voted"
    # Lock the panel: scores no longer change.
    assert client.post(f"/api/v1/challenges/{challenge.id}/panel/lock", headers=headers).status_code == 200
    locked = client.put(f"/api/v1/submissions/{s1.id}/score", json={"scores": scores}, headers=bearer(a))
    assert locked.status_code == 409 and locked.get_json()["error"]["code"] == "panel_locked"
    assert (
        client.post(f"/api/v1/challenges/{challenge.id}/results/publish", headers=headers).status_code == 200
    )
    public = client.get(f"/api/v1/challenges/{challenge.id}/results").get_json()
    assert public["published"] is True and len(public["ranking"]) == 3
    deliver_outbox()
    assert any("Resultados" in m["Subject"] for m in mails_to(mail_dir, "equipo0@equipo0.mx"))
    winner = public["ranking"][0]
    response = client.post(
        f"/api/v1/challenges/{challenge.id}/awards",
        json={"awards": [{"team": winner["team_id"], "award": "Primer lugar"}]},
        headers=headers,
    )
    assert response.status_code == 200 and response.get_json()["status"] == "awarded"
    item = db.session.execute(select(ShowcaseItem)).scalar_one()
    assert item.status == ShowcaseStatus.published and item.submission_id == winner["submission"]
    showcase = client.get("/api/v1/showcase?institution=semovi").get_json()
    assert [i["id"] for i in showcase] == [item.id]


def test_ties_and_under_minimum_are_flagged(ctx):
    challenge, liaison, submissions = _closed_challenge_with_teams(2)
    juror = make_user("solo@jurados.mx")
    services.add_juror(liaison, challenge, juror.email)
    plan = services.assign(liaison, challenge, 3, 1)
    assert plan.short == sorted(s.id for s in submissions)  # only one juror for N = 3
    for s in submissions:
        services.set_eligibility(liaison, s, True, "")
        services.score(juror, services.get_submission(s.id), {"Impacto": 7, "Uso de datos": 7}, "")
    rows = services.ranking(services.get_challenge(challenge.id))
    assert all(r.tied and r.under_minimum and r.rank == 1 for r in rows)
    assert all(r.z_score == 0.0 for r in rows)
