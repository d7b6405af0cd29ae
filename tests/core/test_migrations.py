"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.extensions import db

# Expression indexes that exist only on PostgreSQL (built by their migration, not by the models).
POSTGRESQL_ONLY_INDEXES = {"ix_event_search"}


# Columns that exist only on PostgreSQL (a generated grouping key; see surveys/models.py).
POSTGRESQL_ONLY_COLUMNS = {("survey_answer", "profile_key")}


def _include(obj, name, type_, reflected, compare_to):
    if type_ == "column" and (obj.table.name, name) in POSTGRESQL_ONLY_COLUMNS:
        return False
    return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)


def _fk_shape(fk):
    return (
        fk.parent.name,
        tuple(c.name for c in fk.columns),
        fk.referred_table.name,
        tuple(e.column.name for e in fk.elements),
    )


def _without_unnamed_sqlite_fks(differences, dialect: str):
    """SQLite does not report the name (nor ON DELETE) of a foreign key added with ALTER TABLE
    ADD COLUMN: the same key then shows as removed (unnamed) and added (named). Only that is
    forgiven; PostgreSQL compares everything."""
    if dialect != "sqlite":
        return differences
    removed = {_fk_shape(d[1]) for d in differences if d[0] == "remove_fk"}
    added = {_fk_shape(d[1]) for d in differences if d[0] == "add_fk"}
    same = removed & added
    return [d for d in differences if not (d[0] in ("remove_fk", "add_fk") and _fk_shape(d[1]) in same)]


def test_models_and_migrations_agree(app):
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": False, "include_object": _include}
            )
            differences = compare_metadata(context, db.metadata)
        differences = _without_unnamed_sqlite_fks(differences, db.engine.dialect.name)
    # Index/constraint naming differences would show here too: a model change needs a migration.
    assert differences == [], differences
