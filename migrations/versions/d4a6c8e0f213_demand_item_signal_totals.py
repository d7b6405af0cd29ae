"""running totals of each demand item's signals (per source and in all), backfilled; supporters
recounted; indexes for the report's ranking and its unique supporters

Revision ID: d4a6c8e0f213
Revises: e5a1c3f7b920
Create Date: 2026-12-07 16:05:00

"""

import sqlalchemy as sa
from alembic import op


revision = "d4a6c8e0f213"
down_revision = "e5a1c3f7b920"
branch_labels = None
depends_on = None

SOURCES = ("request", "support", "event", "survey")
SUPPORTER_WHERE = "source IN ('request', 'support')"

# One statement that both SQLite and PostgreSQL run: each item's totals from its signals.
BACKFILL = (
    "UPDATE demand_item SET (signals_total, "
    + ", ".join(f"signals_{source}" for source in SOURCES)
    + ", supporters_count) = (SELECT COALESCE(SUM(s.weight), 0), "
    + ", ".join(f"COALESCE(SUM(CASE WHEN s.source = '{source}' THEN s.weight END), 0)" for source in SOURCES)
    + f", COUNT(CASE WHEN s.{SUPPORTER_WHERE} THEN 1 END) "
    "FROM demand_signal s WHERE s.item_id = demand_item.id)"
)


def upgrade():
    with op.batch_alter_table("demand_item") as batch:
        for column in ("signals_total", *(f"signals_{source}" for source in SOURCES)):
            batch.add_column(sa.Column(column, sa.Integer(), server_default="0", nullable=False))
    op.execute(BACKFILL)
    with op.batch_alter_table("demand_item") as batch:
        batch.create_index(
            "ix_demand_item_institution_signals_total", ["institution_id", "signals_total", "id"]
        )
    with op.batch_alter_table("demand_signal") as batch:
        batch.create_index(
            "ix_demand_signal_supporter_institution",
            ["institution_id", "user_id"],
            postgresql_where=sa.text(SUPPORTER_WHERE),
            sqlite_where=sa.text(SUPPORTER_WHERE),
        )


def downgrade():
    with op.batch_alter_table("demand_signal") as batch:
        batch.drop_index("ix_demand_signal_supporter_institution")
    with op.batch_alter_table("demand_item") as batch:
        batch.drop_index("ix_demand_item_institution_signals_total")
    # Plain ALTER TABLE (SQLite 3.35+ too): batch mode would rebuild demand_item on SQLite, and
    # dropping the old table there cascades to its signals.
    for column in ("signals_total", *(f"signals_{source}" for source in SOURCES)):
        op.execute(f"ALTER TABLE demand_item DROP COLUMN {column}")
