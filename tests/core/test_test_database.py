"""The suite's own promise (tests/conftest.py): every test starts with empty tables, the
append-only audit log included, and ids counted from 1 again."""

from __future__ import annotations

from sqlalchemy import func, select

from accounts import services as account_services
from core.extensions import db
from core.models import AuditEntry, Institution, User
from tests.conftest import reset_database
from tests.factories import PASSWORD, make_event, make_institution, make_liaison, make_user


def test_the_reset_empties_every_table_and_restarts_every_id(app, ctx):
    inegi = make_institution("inegi")
    make_liaison(inegi, "enlace@example.org")
    make_event(inegi)
    make_user("ana@example.org")
    db.session.commit()
    assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() > 0
    # An id taken by a transaction that rolled back is restarted too.
    account_services.create_user("nadie@example.org", PASSWORD)
    db.session.flush()
    db.session.rollback()
    db.session.remove()

    reset_database(app)

    for table in db.metadata.sorted_tables:
        assert db.session.execute(select(func.count()).select_from(table)).scalar_one() == 0, table.name
    assert make_institution("sep").id == 1
    assert make_user("luis@example.org").id == 1
    db.session.commit()
    assert db.session.execute(select(Institution.id)).scalars().all() == [1]
    assert db.session.execute(select(User.id)).scalars().all() == [1]
