"""datasets, demand items and signals, non-working days, institution follows

Revision ID: 7d1f3a5b9c20
Revises: 6e0a2b4c5d73
Create Date: 2026-11-29 13:50:00

"""

import sqlalchemy as sa
from alembic import op


revision = "7d1f3a5b9c20"
down_revision = "6e0a2b4c5d73"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("institution") as batch:
        batch.add_column(sa.Column("catalogue_kind", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("catalogue_organization", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("answer_days", sa.Integer(), server_default="10", nullable=False))

    op.create_table(
        "institution_follow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"], name=op.f("fk_institution_follow_institution_id_institution"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_institution_follow_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institution_follow")),
        sa.UniqueConstraint("user_id", "institution_id", name=op.f("uq_institution_follow_user_id_institution_id")),
    )
    op.create_index(op.f("ix_institution_follow_user_id"), "institution_follow", ["user_id"])
    op.create_index(op.f("ix_institution_follow_institution_id"), "institution_follow", ["institution_id"])

    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("formats", sa.String(length=300), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"], name=op.f("fk_dataset_institution_id_institution"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset")),
        sa.UniqueConstraint("institution_id", "source_id", name=op.f("uq_dataset_institution_id_source_id")),
    )
    op.create_index(op.f("ix_dataset_institution_id"), "dataset", ["institution_id"])

    op.create_table(
        "demand_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('publish', 'question')", name=op.f("ck_demand_item_kind")),
        sa.CheckConstraint(
            "status IN ('received', 'under_review', 'scheduled', 'published', 'not_possible', 'answered', 'merged')",
            name=op.f("ck_demand_item_status"),
        ),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"], name=op.f("fk_demand_item_institution_id_institution"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name=op.f("fk_demand_item_dataset_id_dataset"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], name=op.f("fk_demand_item_created_by_id_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["merged_into_id"], ["demand_item.id"], name=op.f("fk_demand_item_merged_into_id_demand_item"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_item")),
    )
    op.create_index(op.f("ix_demand_item_dataset_id"), "demand_item", ["dataset_id"])
    op.create_index("ix_demand_item_institution_status", "demand_item", ["institution_id", "status"])

    op.create_table(
        "demand_signal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("sector", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=64), nullable=True),
        sa.Column("intended_use", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('request', 'support', 'event', 'survey')", name=op.f("ck_demand_signal_source")),
        sa.CheckConstraint("weight > 0", name=op.f("ck_demand_signal_weight_positive")),
        sa.ForeignKeyConstraint(["item_id"], ["demand_item.id"], name=op.f("fk_demand_signal_item_id_demand_item"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_demand_signal_user_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_signal")),
        sa.UniqueConstraint("item_id", "source", "ref", name=op.f("uq_demand_signal_item_id_source_ref")),
    )
    op.create_index(op.f("ix_demand_signal_item_id"), "demand_signal", ["item_id"])
    op.create_index(op.f("ix_demand_signal_user_id"), "demand_signal", ["user_id"])
    op.create_index(op.f("ix_demand_signal_created_at"), "demand_signal", ["created_at"])
    op.create_index("ix_demand_signal_source_ref", "demand_signal", ["source", "ref"])

    op.create_table(
        "non_working_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_non_working_day")),
    )


def downgrade():
    op.drop_table("non_working_day")
    op.drop_table("demand_signal")
    op.drop_table("demand_item")
    op.drop_table("dataset")
    op.drop_table("institution_follow")
    with op.batch_alter_table("institution") as batch:
        batch.drop_column("answer_days")
        batch.drop_column("catalogue_organization")
        batch.drop_column("catalogue_kind")
