"""catalogue mirror status per institution

Revision ID: 8e2a4c6d1b37
Revises: a0c0bb152d7f
Create Date: 2026-11-29 13:45:00

"""

import sqlalchemy as sa
from alembic import op


revision = "8e2a4c6d1b37"
down_revision = "a0c0bb152d7f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "catalogue_status",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("restored", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('idle', 'queued', 'running', 'ok', 'error')", name=op.f("ck_catalogue_status_state")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_catalogue_status_institution_id_institution"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user.id"],
            name=op.f("fk_catalogue_status_requested_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_catalogue_status")),
    )


def downgrade():
    op.drop_table("catalogue_status")
