"""the institution on each demand signal (the hourly aggregation reads the signals alone)

Revision ID: c7d19e3a5b80
Revises: 02e07ba2ae7b
Create Date: 2026-11-29 15:10:00

"""

import sqlalchemy as sa
from alembic import op


revision = "c7d19e3a5b80"
down_revision = "02e07ba2ae7b"
branch_labels = None
depends_on = None

MERGED_WHERE = "status = 'merged'"


def upgrade():
    with op.batch_alter_table("demand_signal") as batch:
        batch.add_column(sa.Column("institution_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE demand_signal SET institution_id = "
        "(SELECT demand_item.institution_id FROM demand_item WHERE demand_item.id = demand_signal.item_id)"
    )
    with op.batch_alter_table("demand_signal") as batch:
        batch.alter_column("institution_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            batch.f("fk_demand_signal_institution_id_institution"),
            "institution",
            ["institution_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(batch.f("ix_demand_signal_institution_id"), ["institution_id"])
    with op.batch_alter_table("demand_item") as batch:
        batch.create_index(
            "ix_demand_item_merged",
            ["id"],
            postgresql_where=sa.text(MERGED_WHERE),
            sqlite_where=sa.text(MERGED_WHERE),
        )


def downgrade():
    with op.batch_alter_table("demand_item") as batch:
        batch.drop_index("ix_demand_item_merged")
    with op.batch_alter_table("demand_signal") as batch:
        batch.drop_index(batch.f("ix_demand_signal_institution_id"))
        batch.drop_constraint(batch.f("fk_demand_signal_institution_id_institution"), type_="foreignkey")
        batch.drop_column("institution_id")
