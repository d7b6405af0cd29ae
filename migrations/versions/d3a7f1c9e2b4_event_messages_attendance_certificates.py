"""the day of an event: organisers' messages and attendance certificates

Revision ID: d3a7f1c9e2b4
Revises: c7d19e3a5b80
Create Date: 2026-12-07 16:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d3a7f1c9e2b4"
down_revision = "c7d19e3a5b80"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "audience IN ('confirmed', 'waitlisted')", name=op.f("ck_event_message_audience")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_event_message_event_id_event"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"], ["user.id"], name=op.f("fk_event_message_sent_by_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_message")),
        sa.UniqueConstraint("event_id", "digest", name=op.f("uq_event_message_event_id_digest")),
    )
    with op.batch_alter_table("event_message") as batch:
        batch.create_index(batch.f("ix_event_message_event_id"), ["event_id"], unique=False)
    op.create_table(
        "attendance_certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registration.id"],
            name=op.f("fk_attendance_certificate_registration_id_registration"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_certificate")),
        sa.UniqueConstraint("code", name=op.f("uq_attendance_certificate_code")),
        sa.UniqueConstraint("registration_id", name=op.f("uq_attendance_certificate_registration_id")),
    )


def downgrade():
    op.drop_table("attendance_certificate")
    with op.batch_alter_table("event_message") as batch:
        batch.drop_index(batch.f("ix_event_message_event_id"))
    op.drop_table("event_message")
