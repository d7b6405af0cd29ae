"""demand: official answers, public history, follows, comments and flags, report snapshots

Revision ID: b4e8c2a6d913
Revises: 8a4c2e6f1b37
Create Date: 2026-11-29 14:00:00

"""

import sqlalchemy as sa
from alembic import op


revision = "b4e8c2a6d913"
down_revision = "8a4c2e6f1b37"
branch_labels = None
depends_on = None

SUPPORTER_WHERE = "source IN ('request', 'support')"


def upgrade():
    with op.batch_alter_table("demand_item") as batch:
        batch.add_column(sa.Column("supporters_count", sa.Integer(), server_default="0", nullable=False))
        batch.create_index("ix_demand_item_supporters_count_id", ["supporters_count", "id"])
        batch.create_index(
            "ix_demand_item_institution_supporters", ["institution_id", "supporters_count", "id"]
        )
    with op.batch_alter_table("demand_signal") as batch:
        batch.create_index(
            "uq_demand_signal_supporter",
            ["item_id", "user_id"],
            unique=True,
            postgresql_where=sa.text(SUPPORTER_WHERE),
            sqlite_where=sa.text(SUPPORTER_WHERE),
        )

    op.create_table(
        "demand_answer",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("committed_on", sa.Date(), nullable=True),
        sa.Column("dataset_url", sa.String(length=1000), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_on_time", sa.Boolean(), nullable=True),
        sa.Column("overdue_noted_on", sa.Date(), nullable=True),
        sa.Column("url_check", sa.String(length=16), nullable=True),
        sa.Column("url_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("url_check_detail", sa.String(length=300), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason_code IS NULL OR reason_code IN ('reserved_or_confidential', 'personal_data', "
            "'does_not_exist', 'not_competent', 'other')",
            name=op.f("ck_demand_answer_reason_code"),
        ),
        sa.CheckConstraint(
            "url_check IS NULL OR url_check IN ('pending', 'ok', 'catalogue', 'failed')",
            name=op.f("ck_demand_answer_url_check"),
        ),
        sa.ForeignKeyConstraint(["item_id"], ["demand_item.id"], name=op.f("fk_demand_answer_item_id_demand_item"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_demand_answer")),
    )
    op.create_index(op.f("ix_demand_answer_answered_at"), "demand_answer", ["answered_at"])

    op.create_table(
        "demand_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("committed_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("dataset_url", sa.String(length=1000), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("other_item_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["demand_item.id"], name=op.f("fk_demand_history_item_id_demand_item"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_demand_history_actor_id_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["other_item_id"], ["demand_item.id"], name=op.f("fk_demand_history_other_item_id_demand_item"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_history")),
    )
    op.create_index("ix_demand_history_item_id_created_at", "demand_history", ["item_id", "created_at"])

    op.create_table(
        "demand_follow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["demand_item.id"], name=op.f("fk_demand_follow_item_id_demand_item"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_demand_follow_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_follow")),
        sa.UniqueConstraint("item_id", "user_id", name=op.f("uq_demand_follow_item_id_user_id")),
    )
    op.create_index(op.f("ix_demand_follow_user_id"), "demand_follow", ["user_id"])

    op.create_table(
        "comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("flags_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_by_id", sa.Integer(), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("(dataset_id IS NULL) <> (item_id IS NULL)", name=op.f("ck_comment_one_target")),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"], name=op.f("fk_comment_institution_id_institution"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name=op.f("fk_comment_dataset_id_dataset"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["demand_item.id"], name=op.f("fk_comment_item_id_demand_item"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["user.id"], name=op.f("fk_comment_author_id_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["hidden_by_id"], ["user.id"], name=op.f("fk_comment_hidden_by_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment")),
    )
    op.create_index(op.f("ix_comment_institution_id"), "comment", ["institution_id"])
    op.create_index(op.f("ix_comment_author_id"), "comment", ["author_id"])
    op.create_index("ix_comment_item_id_created_at", "comment", ["item_id", "created_at"])
    op.create_index("ix_comment_dataset_id_created_at", "comment", ["dataset_id", "created_at"])

    op.create_table(
        "comment_flag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["comment.id"], name=op.f("fk_comment_flag_comment_id_comment"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_comment_flag_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_flag")),
        sa.UniqueConstraint("comment_id", "user_id", name=op.f("uq_comment_flag_comment_id_user_id")),
    )
    op.create_index(op.f("ix_comment_flag_user_id"), "comment_flag", ["user_id"])

    op.create_table(
        "demand_report",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"], name=op.f("fk_demand_report_institution_id_institution"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_demand_report")),
    )


def downgrade():
    op.drop_table("demand_report")
    op.drop_table("comment_flag")
    op.drop_table("comment")
    op.drop_table("demand_follow")
    op.drop_table("demand_history")
    op.drop_table("demand_answer")
    with op.batch_alter_table("demand_signal") as batch:
        batch.drop_index(
            "uq_demand_signal_supporter",
            postgresql_where=sa.text(SUPPORTER_WHERE),
            sqlite_where=sa.text(SUPPORTER_WHERE),
        )
    with op.batch_alter_table("demand_item") as batch:
        batch.drop_index("ix_demand_item_institution_supporters")
        batch.drop_index("ix_demand_item_supporters_count_id")
        batch.drop_column("supporters_count")
