"""The migration a0c0bb152d7f on data written before it: published events get their first
publication time, a draft cancelled before the fix stays private, and co-hosts and responsible
institutions named before it count as accepted."""

from __future__ import annotations

from pathlib import Path

from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from app import create_app
from tests.conftest import ROOT, TEST_CONFIG

REVISION = "a0c0bb152d7f"


def _revision_before(revision: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(ROOT / "migrations")).get_revision(revision).down_revision


BEFORE = _revision_before(REVISION)


def _event_row(conn, event_id: int, status: str, published_at: str | None, reason: str | None = None) -> None:
    conn.execute(
        text(
            "INSERT INTO event (id, institution_id, kind, status, title, summary, description, topics, "
            "format, venue, starts_at, ends_at, timezone, waitlist_enabled, reminder_offsets, sequence, "
            "cancel_reason, created_at, updated_at, published_at) VALUES (:id, 1, 'datathon', :status, "
            ":title, '', '', '[]', 'in_person', 'Sala', '2030-01-02 10:00:00+00:00', "
            "'2030-01-02 12:00:00+00:00', 'America/Mexico_City', 1, '[]', 0, :reason, "
            "'2029-12-01 10:00:00+00:00', '2029-12-01 10:00:00+00:00', :published_at)"
        ),
        {
            "id": event_id,
            "status": status,
            "title": f"Evento {event_id}",
            "reason": reason,
            "published_at": published_at,
        },
    )


def test_existing_rows_are_migrated(tmp_path: Path):
    # A SQLite file of its own whatever the suite runs on (the migration also runs on the
    # suite's database, PostgreSQL in CI, when the session starts).
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=BEFORE)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO institution (id, slug, name, government_order, timezone, created_at) VALUES "
                "(1, 'inegi', 'INEGI', 'federal', 'America/Mexico_City', '2029-01-01'), "
                "(2, 'unam', 'UNAM', 'federal', 'America/Mexico_City', '2029-01-01')"
            )
        )
        _event_row(conn, 1, "published", None)  # published_at never written (old seed)
        _event_row(conn, 2, "cancelled", None, "Cancelada como borrador")  # never published
        _event_row(conn, 3, "cancelled", None, "Cancelada después de publicarse")
        _event_row(conn, 4, "draft", None)
        _event_row(conn, 5, "completed", "2029-12-05 09:00:00+00:00")
        conn.execute(
            text(
                "INSERT INTO audit_log (created_at, action, object_type, object_id, details) VALUES "
                "('2029-12-03 08:00:00+00:00', 'event.publish', 'event', '3', '{}')"
            )
        )
        conn.execute(text("INSERT INTO event_cohost (event_id, institution_id) VALUES (1, 2)"))
        conn.execute(
            text(
                "INSERT INTO registration (event_id, status, code, answers, walk_in, walk_in_name, erased, "
                "created_at) VALUES (1, 'confirmed', 'ABCD2345', '{}', 1, 'Invitada', 0, '2029-12-02')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO commitment (event_id, text, responsible_institution_id, status, created_at, "
                "updated_at) VALUES (5, 'Publicar', 2, 'pending', '2029-12-06', '2029-12-06')"
            )
        )
    engine.dispose()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=REVISION)
    engine = create_engine(url)
    with engine.connect() as conn:
        published = dict(conn.execute(text("SELECT id, published_at FROM event ORDER BY id")).all())
        assert published[1] is not None and str(published[1]).startswith("2029-12-01")
        assert published[2] is None  # a cancelled draft stays private
        assert str(published[3]).startswith("2029-12-03")  # its first publication, from the audit log
        assert published[4] is None
        assert str(published[5]).startswith("2029-12-05")
        assert conn.execute(text("SELECT status FROM event_cohost")).scalar_one() == "accepted"
        assert conn.execute(text("SELECT responsible_status FROM commitment")).scalar_one() == "accepted"
        # The rule holds from now on.
        try:
            conn.execute(text("UPDATE event SET status = 'published' WHERE id = 4"))
        except Exception as exc:  # noqa: BLE001
            assert "ck_event_published_at" in str(exc)
        else:
            raise AssertionError("a published event without a publication time was accepted")
        conn.rollback()
        # Registrations survive (no table was rebuilt under foreign keys).
        assert conn.execute(text("SELECT code FROM registration")).scalar_one() == "ABCD2345"
    engine.dispose()
    with app.app_context():
        downgrade(directory=str(ROOT / "migrations"), revision=BEFORE)
        upgrade(directory=str(ROOT / "migrations"), revision=REVISION)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM registration")).scalar_one() == "ABCD2345"
        assert conn.execute(text("SELECT status FROM event_cohost")).scalar_one() == "accepted"
    engine.dispose()
