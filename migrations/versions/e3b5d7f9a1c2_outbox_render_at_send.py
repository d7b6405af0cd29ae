"""outbox: messages rendered by the mail worker at send time (the ids they need)

Revision ID: e3b5d7f9a1c2
Revises: d4a6c8e0f213
Create Date: 2026-12-07 16:00:00

"""

import sqlalchemy as sa
from alembic import op


revision = "e3b5d7f9a1c2"
down_revision = "d4a6c8e0f213"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("render_refs", sa.JSON(none_as_null=True), nullable=True))


def downgrade():
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("render_refs")
