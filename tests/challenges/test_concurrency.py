"""Races, proven on PostgreSQL with real concurrent clients: the team size limit, the
per-team submission limit and the close enforced at commit time. Each has a control run
with its protection off that must show the race, so we know the test can see one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from challenges import services
from challenges.models import Challenge, Submission, SubmissionVersion, TeamMember
from core.extensions import db
from core.timeutil import utcnow
from tests.challenges.helpers import bearer, make_challenge, submission_data
from tests.conftest import IS_POSTGRES
from tests.factories import make_institution, make_user

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")

CLIENTS = 30


def burst(app, calls: list[tuple[str, str, dict, dict]]) -> list[tuple[int, dict]]:
    """Fire every request at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def call(method: str, path: str, body: dict, headers: dict):
        client = app.test_client()
        barrier.wait()
        response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.get_json(silent=True) or {}

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda c: call(*c), calls))


def _count(model, *conditions) -> int:
    db.session.expire_all()
    value = db.session.execute(select(func.count()).select_from(model).where(*conditions)).scalar_one()
    db.session.rollback()
    return value


def _team_with_joiners(slug: str, team_max: int):
    challenge = make_challenge(make_institution(slug), team_max=team_max)
    captain = make_user()
    team = services.create_team(captain, challenge, "Rápidos")
    token = services.invite_token(team)
    joiners = [bearer(make_user()) for _ in range(CLIENTS)]
    calls = [("POST", f"/api/v1/teams/{team.id}/members", {"invite_token": token}, h) for h in joiners]
    return team, calls


def test_thirty_joiners_four_places_exactly_three_join(app, ctx):
    team, calls = _team_with_joiners("semovi", 4)
    results = burst(app, calls)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [409] * (CLIENTS - 3)
    assert {body["error"]["code"] for status, body in results if status == 409} == {"team_full"}
    assert _count(TeamMember, TeamMember.team_id == team.id) == 4


def test_control_run_without_the_team_lock_overfills(app, ctx):
    app.config["CHALLENGES_TEAM_LOCK"] = False
    overfilled = []
    for attempt in range(3):
        team, calls = _team_with_joiners(f"control{attempt}", 4)
        burst(app, calls)
        members = _count(TeamMember, TeamMember.team_id == team.id)
        overfilled.append(members - 4)
        if members > 4:
            break
    assert max(overfilled) > 0, f"no race seen without the lock: {overfilled}"


def _team_of_ten(slug: str, limit: int):
    challenge = make_challenge(make_institution(slug), team_max=10, submission_limit=limit)
    people = [make_user() for _ in range(10)]
    team = services.create_team(people[0], challenge, "Rápidos")
    token = services.invite_token(team)
    for person in people[1:]:
        services.join_team(person, services.get_team(team.id), token)
    headers = [bearer(person) for person in people]
    calls = [("POST", f"/api/v1/teams/{team.id}/submissions", submission_data(), h) for h in headers]
    return team, calls


def test_ten_members_submitting_at_once_respect_the_limit(app, ctx):
    team, calls = _team_of_ten("semovi", 2)
    results = burst(app, calls)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 2 + [409] * 8
    assert {body["error"]["code"] for status, body in results if status == 409} == {"submission_limit"}
    assert _count(Submission, Submission.team_id == team.id) == 2


def test_control_run_without_the_team_lock_exceeds_the_limit(app, ctx):
    app.config["CHALLENGES_TEAM_LOCK"] = False
    exceeded = []
    for attempt in range(3):
        team, calls = _team_of_ten(f"control{attempt}", 2)
        burst(app, calls)
        solutions = _count(Submission, Submission.team_id == team.id)
        exceeded.append(solutions - 2)
        if solutions > 2:
            break
    assert max(exceeded) > 0, f"no race seen without the lock: {exceeded}"


def _straddling_the_close(slug: str, teams: int = 8):
    """Teams whose submissions pass every check before the close but commit after it."""
    challenge = make_challenge(make_institution(slug))
    calls = []
    for n in range(teams):
        person = make_user()
        team = services.create_team(person, challenge, f"Equipo {n}")
        calls.append(("POST", f"/api/v1/teams/{team.id}/submissions", submission_data(), bearer(person)))
    closes_at = utcnow() + timedelta(seconds=1.5)
    db.session.execute(update(Challenge).where(Challenge.id == challenge.id).values(closes_at=closes_at))
    db.session.commit()
    return challenge, closes_at, calls


def test_a_submission_committed_after_the_close_is_refused(app, ctx):
    _challenge, closes_at, calls = _straddling_the_close("semovi")
    app.config["CHALLENGES_TEST_COMMIT_DELAY"] = 2.5
    started = utcnow()
    results = burst(app, calls)
    assert started < closes_at  # every request was checked before the close ...
    assert utcnow() > closes_at  # ... and reached its commit after it
    assert [status for status, _ in results] == [409] * len(calls)
    assert {body["error"]["code"] for _, body in results} == {"submissions_closed"}
    assert _count(SubmissionVersion) == 0


def test_control_run_without_the_commit_check_accepts_late_commits(app, ctx):
    _challenge, closes_at, calls = _straddling_the_close("control")
    app.config["CHALLENGES_TEST_COMMIT_DELAY"] = 2.5
    app.config["CHALLENGES_CLOSE_CHECK"] = False
    results = burst(app, calls)
    time.sleep(0.1)
    assert utcnow() > closes_at
    assert [status for status, _ in results] == [201] * len(calls)
    assert _count(SubmissionVersion) == len(calls)
