"""uploaded images (table image), the event cover and the pictures of success stories

Revision ID: e5a1c3f7b920
Revises: d3a7f1c9e2b4
Create Date: 2026-12-07 16:10:00

"""

import sqlalchemy as sa
from alembic import op

import core.timeutil

revision = "e5a1c3f7b920"
down_revision = "d3a7f1c9e2b4"
branch_labels = None
depends_on = None

COVER_ALT_RULE = "cover_image_id IS NULL OR cover_alt IS NOT NULL"


def upgrade():
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("thumb_width", sa.Integer(), nullable=False),
        sa.Column("thumb_height", sa.Integer(), nullable=False),
        sa.Column("thumb_sha256", sa.String(length=64), nullable=False),
        sa.Column("thumb_data", sa.LargeBinary(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_image_institution_id_institution"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["user.id"], name=op.f("fk_image_uploaded_by_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image")),
    )
    with op.batch_alter_table("image") as batch:
        batch.create_index(batch.f("ix_image_institution_id"), ["institution_id"], unique=False)
        batch.create_index(batch.f("ix_image_uploaded_by_id"), ["uploaded_by_id"], unique=False)

    # Added in place (no batch rebuild): on SQLite, rebuilding `event` with foreign keys on
    # would cascade-delete every registration. The CHECK is PostgreSQL's; SQLite relies on the
    # service, which never sets a cover without its alt text.
    op.execute(
        "ALTER TABLE event ADD COLUMN cover_image_id INTEGER "
        "CONSTRAINT fk_event_cover_image_id_image REFERENCES image (id) ON DELETE SET NULL"
    )
    op.add_column("event", sa.Column("cover_alt", sa.String(length=300), nullable=True))
    op.create_index(op.f("ix_event_cover_image_id"), "event", ["cover_image_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(op.f("ck_event_cover_alt"), "event", COVER_ALT_RULE)

    op.create_table(
        "story_image",
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["success_story.id"],
            name=op.f("fk_story_image_story_id_success_story"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_story_image_image_id_image"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("story_id", "image_id", name=op.f("pk_story_image")),
    )
    with op.batch_alter_table("story_image") as batch:
        batch.create_index(batch.f("ix_story_image_image_id"), ["image_id"], unique=False)


def downgrade():
    with op.batch_alter_table("story_image") as batch:
        batch.drop_index(batch.f("ix_story_image_image_id"))
    op.drop_table("story_image")
    op.drop_index(op.f("ix_event_cover_image_id"), table_name="event")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_event_cover_alt"), "event", type_="check")
        op.drop_constraint(op.f("fk_event_cover_image_id_image"), "event", type_="foreignkey")
        op.drop_column("event", "cover_alt")
        op.drop_column("event", "cover_image_id")
    else:
        # SQLite cannot drop a column a foreign key is on without rebuilding `event` (see
        # upgrade): the two columns stay, empty, and the image table goes.
        op.execute("UPDATE event SET cover_image_id = NULL, cover_alt = NULL")
    with op.batch_alter_table("image") as batch:
        batch.drop_index(batch.f("ix_image_uploaded_by_id"))
        batch.drop_index(batch.f("ix_image_institution_id"))
    op.drop_table("image")
