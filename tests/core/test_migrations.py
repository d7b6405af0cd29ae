"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.extensions import db

# Expression indexes that exist only on PostgreSQL (built by their migration, not by the models).
POSTGRESQL_ONLY_INDEXES = {"ix_event_search"}


def _include(obj, name, type_, reflected, compare_to):
    return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)


def test_models_and_migrations_agree(app):
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": False, "include_object": _include}
            )
            differences = compare_metadata(context, db.metadata)
    # Index/constraint naming differences would show here too: a model change needs a migration.
    assert differences == [], differences
