"""What reaches other people (questions, invitations, proposals) is rate-limited per person,
one budget shared by the pages and the API."""

from __future__ import annotations

from tests.challenges.helpers import bearer, make_challenge
from tests.factories import login, make_institution, make_liaison, make_user


def test_questions_invitations_and_proposals_share_one_budget_per_person(client, ctx, app):
    app.config["LIMIT_CHALLENGE_MESSAGES_PER_PERSON"] = "3 per minute"
    inegi = make_institution("inegi")
    challenge = make_challenge(inegi, actor=make_liaison(inegi))
    lucia = make_user("lucia@example.org")
    token = bearer(lucia)
    asked = [
        client.post(
            f"/api/v1/challenges/{challenge.id}/clarifications",
            json={"question": f"¿Duda {i}?"},
            headers=token,
        ).status_code
        for i in range(2)
    ]
    assert asked == [201, 201]
    login(client, lucia.email)
    # The page spends the same budget as the API: the third counts, the fourth is refused.
    page = client.post(f"/challenges/{challenge.id}/clarifications", data={"question": "¿Otra?"})
    assert page.status_code == 302
    refused = client.post(f"/challenges/{challenge.id}/clarifications", data={"question": "¿Una más?"})
    assert refused.status_code == 429
    proposal = client.post("/api/v1/showcase", json={"kind": "app", "title": "X"}, headers=token)
    assert proposal.status_code == 429 and proposal.get_json()["error"]["code"] == "rate_limited"
    # Someone else still may; reading is never limited.
    other = bearer(make_user("ana@example.org"))
    assert (
        client.post(
            f"/api/v1/challenges/{challenge.id}/clarifications", json={"question": "¿Yo?"}, headers=other
        ).status_code
        == 201
    )
    assert client.get(f"/api/v1/challenges/{challenge.id}/clarifications").status_code == 200
