"""The CLI of the public contract."""

from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditEntry, Institution, Membership, User


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_institutions_and_users_create(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["institutions", "create", "inegi", "--name", "INEGI", "--acronym", "INEGI"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "users",
            "create",
            "enlace@example.org",
            "--password",
            "Enlace-INEGI-2026",
            "--verified",
            "--institution",
            "inegi",
            "--role",
            "liaison",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["users", "create", "admin@example.org", "--password", "Admin-Promueve-2026", "--admin"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        liaison = db.session.execute(select(User).where(User.email == "enlace@example.org")).scalar_one()
        assert liaison.is_verified and liaison.memberships[0].role == "liaison"
        admin = db.session.execute(select(User).where(User.email == "admin@example.org")).scalar_one()
        assert admin.is_admin and not admin.is_verified
        assert "user.admin_grant" in db.session.execute(select(AuditEntry.action)).scalars().all()


def test_users_create_refuses_bad_input(app):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["users", "create", "a@example.org", "--password", "corta"])
    assert weak.exit_code != 0 and "10" in weak.output
    missing = runner.invoke(
        args=[
            "users",
            "create",
            "a@example.org",
            "--password",
            "Lluvia-de-datos-2026",
            "--institution",
            "nope",
            "--role",
            "staff",
        ]
    )
    assert missing.exit_code != 0 and "nope" in missing.output
    assert count(app, User) == 0


def test_users_import_is_all_or_nothing_and_reports_lines(app, tmp_path):
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,name,password,sector\n"
        "ana@example.org,Ana,Mariposa-monarca-2026,academia\n"
        "no-es-correo,Beto,Mariposa-monarca-2026,\n"
        "carla@example.org,Carla,corta\n"
        "dario@example.org,Darío,Mariposa-monarca-2026,astronautas\n"
    )
    result = runner.invoke(args=["users", "import", str(bad)])
    assert result.exit_code != 0
    assert "line 3" in result.output and "line 4" in result.output and "line 5" in result.output
    assert "line 2" not in result.output
    assert count(app, User) == 0

    good = tmp_path / "good.csv"
    good.write_text(
        "ana@example.org,Ana,Mariposa-monarca-2026,academia\n"
        "beto@example.org,Beto,Mariposa-monarca-2026,sociedad civil\n"
        "carla@example.org,Carla,Mariposa-monarca-2026\n"
    )
    result = runner.invoke(args=["users", "import", str(good)])
    assert result.exit_code == 0 and "imported 3" in result.output
    with app.app_context():
        users = db.session.execute(select(User).order_by(User.email)).scalars().all()
        assert [u.sector for u in users] == ["academia", "civil_society", "citizen"]
        assert all(u.is_verified for u in users)


def test_seed_demo_is_idempotent(app, demo):
    runner = app.test_cli_runner()
    # `demo`: the first `flask seed-demo`, on empty tables, and what it left (tests/conftest.py).
    assert demo.exit_code == 0 and "Enlace-INEGI-2026" in demo.output
    counts = (count(app, User), count(app, Institution), count(app, Membership), count(app, AuditEntry))
    assert counts[1] >= 5
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert (
        count(app, User),
        count(app, Institution),
        count(app, Membership),
        count(app, AuditEntry),
    ) == counts
    skipped = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "already exist" in skipped.output


def test_an_institution_name_is_one_line(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["institutions", "create", "sep", "--name", "Secretaría\nde Educación"])
    assert result.exit_code != 0 and "--name" in result.output
    assert count(app, Institution) == 0
