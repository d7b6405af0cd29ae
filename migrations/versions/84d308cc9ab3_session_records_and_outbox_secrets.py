"""session records, outbox secrets; revoke API tokens of unverified accounts and mask
the link tokens of messages already sent

Revision ID: 84d308cc9ab3
Revises: 8a2c4e6f1b30
Create Date: 2026-11-29 13:50:00

"""

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "84d308cc9ab3"
down_revision = "8a2c4e6f1b30"
branch_labels = None
depends_on = None

# The links whose token opens something, in messages sent before tokens were masked.
SECRET_LINK = re.compile(r"(/password/reset/|/verify/|/invitations/)([A-Za-z0-9_.\-]{8,})")
SECRET_KINDS = ("account.reset", "account.verify", "institution.invitation")
MASK = "••••••"


def upgrade():
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("device", sa.String(length=100), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_session_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_user_session_key_hash")),
    )
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_session_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_values", sa.JSON(), nullable=True))

    now = datetime.now(UTC)
    connection = op.get_bind()
    user = sa.table("user", sa.column("id"), sa.column("email_verified_at"))
    api_token = sa.table(
        "api_token", sa.column("user_id"), sa.column("revoked_at", sa.DateTime(timezone=True))
    )
    # Tokens taken by accounts that never proved their address could belong to whoever
    # signed up with someone else's address: they stop working.
    connection.execute(
        api_token.update()
        .where(
            api_token.c.revoked_at.is_(None),
            api_token.c.user_id.in_(sa.select(user.c.id).where(user.c.email_verified_at.is_(None))),
        )
        .values(revoked_at=now)
    )

    notification = sa.table(
        "notification",
        sa.column("id"),
        sa.column("kind"),
        sa.column("status"),
        sa.column("body_text"),
        sa.column("body_html"),
    )
    sent = connection.execute(
        sa.select(notification.c.id, notification.c.body_text, notification.c.body_html).where(
            notification.c.kind.in_(SECRET_KINDS), notification.c.status == "sent"
        )
    ).all()
    for row in sent:
        connection.execute(
            notification.update()
            .where(notification.c.id == row.id)
            .values(
                body_text=SECRET_LINK.sub(lambda m: m.group(1) + MASK, row.body_text),
                body_html=SECRET_LINK.sub(lambda m: m.group(1) + MASK, row.body_html),
            )
        )


def downgrade():
    # A plain ALTER TABLE (SQLite 3.35+): rebuilding the table would null the links to it.
    op.drop_column("notification", "secret_values")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_session_user_id"))
    op.drop_table("user_session")
