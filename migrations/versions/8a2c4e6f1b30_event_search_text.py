"""events: accent-free search text and a Spanish full-text index on PostgreSQL

Revision ID: 8a2c4e6f1b30
Revises: 7d1f3a5b9c20
Create Date: 2026-11-29 13:40:00

"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "8a2c4e6f1b30"
down_revision = "7d1f3a5b9c20"
branch_labels = None
depends_on = None


def _fold(text):
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch.isprintable())
    return " ".join(kept.split())


def upgrade():
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.id, e.title, e.summary, e.topics, i.name, i.acronym "
            "FROM event e JOIN institution i ON i.id = e.institution_id"
        )
    ).all()
    import json

    for event_id, title, summary, topics, name, acronym in rows:
        if isinstance(topics, str):
            topics = json.loads(topics or "[]")
        parts = [title, summary, " ".join(topics or []), name, acronym]
        bind.execute(
            sa.text("UPDATE event SET search_text = :text WHERE id = :id"),
            {"text": _fold(" ".join(p for p in parts if p)), "id": event_id},
        )
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_event_search ON event USING gin (to_tsvector('spanish'::regconfig, search_text))"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_event_search")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("search_text")
