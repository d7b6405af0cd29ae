"""List pages issue the same number of SQL statements whatever the data size."""

from __future__ import annotations

from core.extensions import db
from tests.factories import QueryCounter, login, make_institution, make_liaison, make_user


def queries_for(app, client, path: str) -> int:
    with app.app_context():
        engine = db.engine
    client.get(path)  # warm: counts are of the steady state (the home page caches its figures)
    with QueryCounter(engine) as counter:
        assert client.get(path).status_code == 200
    return counter.count


def test_members_audit_and_institution_lists_do_not_grow_with_rows(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
    login(client, "admin@example.org")
    paths = ["/institutions/inegi/members", "/admin/audit", "/institutions", "/", "/institutions/inegi"]
    small = {path: queries_for(app, client, path) for path in paths}
    with app.app_context():
        inegi = db.session.merge(inegi)
        for n in range(8):
            make_liaison(make_institution(f"extra{n}"), f"persona{n}@example.org")
            make_liaison(inegi, f"equipo{n}@example.org", role="staff")
    large = {path: queries_for(app, client, path) for path in paths}
    assert large == small
