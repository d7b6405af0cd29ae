"""drafts stay private (first publication time), institutions consent to co-host and commitments

Revision ID: a0c0bb152d7f
Revises: 84d308cc9ab3
Create Date: 2026-11-29 13:40:00

Every event that is or was public gets its first publication time (the publish entry of the
audit log, else its creation); a draft cancelled before this revision stays without one, so it
stays private. Co-hosts and institutions responsible for commitments named before this
revision count as accepted.

SQLite rebuilds a table to add a CHECK to it, and with foreign keys on, dropping the old
`event` table would cascade-delete every registration; there the rule on `published_at` is
kept by two triggers instead, and the new columns carry their constraints inline.
"""

import sqlalchemy as sa
from alembic import op

revision = "a0c0bb152d7f"
down_revision = "84d308cc9ab3"
branch_labels = None
depends_on = None

PUBLISHED_AT_RULE = (
    "(status <> 'draft' OR published_at IS NULL) "
    "AND (status NOT IN ('published', 'completed') OR published_at IS NOT NULL)"
)
PUBLISHED_AT_RULE_NEW_ROW = (
    "(NEW.status <> 'draft' OR NEW.published_at IS NULL) "
    "AND (NEW.status NOT IN ('published', 'completed') OR NEW.published_at IS NOT NULL)"
)
CONSENT = "IN ('pending', 'accepted', 'declined')"


def _timestamp() -> str:
    return "TIMESTAMP WITH TIME ZONE" if op.get_bind().dialect.name == "postgresql" else "DATETIME"


def _add(table: str, definition: str) -> None:
    # Column constraints inline: both PostgreSQL and SQLite accept them in ADD COLUMN.
    op.execute(f"ALTER TABLE {table} ADD COLUMN {definition}")


def upgrade():
    dialect = op.get_bind().dialect.name
    timestamp = _timestamp()

    # --- first publication time -------------------------------------------------------------
    op.execute(
        "UPDATE event SET published_at = (SELECT MIN(a.created_at) FROM audit_log a "
        "WHERE a.action = 'event.publish' AND a.object_type = 'event' "
        "AND a.object_id = CAST(event.id AS VARCHAR(64))) "
        "WHERE published_at IS NULL AND status <> 'draft'"
    )
    op.execute(
        "UPDATE event SET published_at = created_at "
        "WHERE published_at IS NULL AND status IN ('published', 'completed')"
    )
    op.execute("UPDATE event SET published_at = NULL WHERE status = 'draft'")
    if dialect == "sqlite":
        for when, name in (("INSERT", "insert"), ("UPDATE", "update")):
            op.execute(
                f"CREATE TRIGGER ck_event_published_at_{name} BEFORE {when} ON event "
                f"WHEN NOT ({PUBLISHED_AT_RULE_NEW_ROW}) "
                "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ck_event_published_at'); END"
            )
    else:
        op.create_check_constraint(op.f("ck_event_published_at"), "event", PUBLISHED_AT_RULE)
    op.create_index("ix_event_published_at", "event", ["published_at"], unique=False)

    # --- co-hosts consent -----------------------------------------------------------------
    _add(
        "event_cohost",
        f"status VARCHAR(16) DEFAULT 'accepted' NOT NULL CONSTRAINT ck_event_cohost_status CHECK (status {CONSENT})",
    )
    _add("event_cohost", f"requested_at {timestamp}")
    _add("event_cohost", f"responded_at {timestamp}")
    _add(
        "event_cohost",
        "responded_by_id INTEGER CONSTRAINT fk_event_cohost_responded_by_id_user "
        'REFERENCES "user" (id) ON DELETE SET NULL',
    )
    op.execute(
        "UPDATE event_cohost SET requested_at = (SELECT created_at FROM event WHERE event.id = event_cohost.event_id), "
        "responded_at = (SELECT created_at FROM event WHERE event.id = event_cohost.event_id)"
    )

    # --- commitments consent --------------------------------------------------------------
    _add(
        "commitment",
        "responsible_status VARCHAR(16) DEFAULT 'accepted' NOT NULL "
        f"CONSTRAINT ck_commitment_responsible_status CHECK (responsible_status {CONSENT})",
    )
    _add("commitment", f"responsible_requested_at {timestamp}")
    _add("commitment", f"responsible_responded_at {timestamp}")
    _add(
        "commitment",
        "responsible_responded_by_id INTEGER CONSTRAINT fk_commitment_responsible_responded_by_id_user "
        'REFERENCES "user" (id) ON DELETE SET NULL',
    )
    op.execute(
        "UPDATE commitment SET responsible_requested_at = created_at, responsible_responded_at = created_at "
        "WHERE responsible_institution_id IS NOT NULL"
    )
    if dialect == "postgresql":
        # The application always writes these; the defaults only served the existing rows.
        op.execute("ALTER TABLE event_cohost ALTER COLUMN status DROP DEFAULT")
        op.execute("ALTER TABLE commitment ALTER COLUMN responsible_status DROP DEFAULT")
    op.create_index(
        "ix_event_cohost_institution_id_status", "event_cohost", ["institution_id", "status"], unique=False
    )


def downgrade():
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_event_cohost_institution_id_status", table_name="event_cohost")
    # Neither table is referenced by another, so SQLite may rebuild them safely here.
    with op.batch_alter_table("commitment") as batch_op:
        if dialect == "postgresql":  # SQLite drops it with its column
            batch_op.drop_constraint(op.f("fk_commitment_responsible_responded_by_id_user"), type_="foreignkey")
        batch_op.drop_constraint(op.f("ck_commitment_responsible_status"), type_="check")
        for column in (
            "responsible_responded_by_id",
            "responsible_responded_at",
            "responsible_requested_at",
            "responsible_status",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("event_cohost") as batch_op:
        if dialect == "postgresql":  # SQLite drops it with its column
            batch_op.drop_constraint(op.f("fk_event_cohost_responded_by_id_user"), type_="foreignkey")
        batch_op.drop_constraint(op.f("ck_event_cohost_status"), type_="check")
        for column in ("responded_by_id", "responded_at", "requested_at", "status"):
            batch_op.drop_column(column)
    op.drop_index("ix_event_published_at", table_name="event")
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS ck_event_published_at_insert")
        op.execute("DROP TRIGGER IF EXISTS ck_event_published_at_update")
    else:
        op.drop_constraint(op.f("ck_event_published_at"), "event", type_="check")
