"""index events by start time for the lists

Revision ID: 6e0a2b4c5d73
Revises: 5c9e1a3d4f62
Create Date: 2026-11-27 16:10:00

"""

from alembic import op

revision = "6e0a2b4c5d73"
down_revision = "5c9e1a3d4f62"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_event_starts_at_id", "event", ["starts_at", "id"], unique=False)


def downgrade():
    op.drop_index("ix_event_starts_at_id", table_name="event")
