"""the institution's logo is an uploaded image (table image): checked, re-encoded, served immutable

Revision ID: f2c4e6a8b013
Revises: e3b5d7f9a1c2
Create Date: 2026-12-07 23:20:00

Logos were stored as the uploaded bytes (accepted by their first bytes only), with whatever
metadata they carried, and served at one address for an hour. Each existing logo is
re-encoded here the way core/images.py treats every upload (turned upright, at most
1600 px wide with a 640 px thumbnail, no metadata) and moved to `image`; a logo Pillow cannot
read is dropped (the institution page then shows none, as before an upload).
"""

import hashlib
import io
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "f2c4e6a8b013"
down_revision = "e3b5d7f9a1c2"
branch_labels = None
depends_on = None

MAX_PIXELS = 50_000_000


def _rendition(image, width: int, format_name: str) -> tuple[bytes, int, int]:
    from PIL import Image

    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.LANCZOS)
    out = io.BytesIO()
    if format_name == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue(), image.width, image.height


def _reencode(data: bytes):
    """(content type, large, thumb) or None when the bytes are not a JPEG or PNG we accept."""
    from PIL import Image, ImageOps

    try:
        source = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
        if source.width * source.height > MAX_PIXELS:
            return None
        source.load()
        pixels = ImageOps.exif_transpose(source)
        pixels.info.clear()  # nothing of the original (EXIF, comments, text chunks) is written back
        if pixels.mode not in ("RGB", "RGBA", "L", "LA"):
            pixels = pixels.convert("RGBA" if "A" in pixels.getbands() or "transparency" in pixels.info else "RGB")
        large = _rendition(pixels, 1600, source.format)
        thumb = _rendition(pixels, 640, source.format)
    except Exception:  # noqa: BLE001 - a stored logo that does not decode is dropped
        return None
    return ("image/jpeg" if source.format == "JPEG" else "image/png"), large, thumb


def upgrade():
    # Added in place (no batch rebuild): rebuilding `institution` on SQLite with foreign keys
    # on would cascade-delete everything that belongs to it.
    op.execute(
        "ALTER TABLE institution ADD COLUMN logo_image_id INTEGER "
        "CONSTRAINT fk_institution_logo_image_id_image REFERENCES image (id) ON DELETE SET NULL"
    )
    op.create_index(op.f("ix_institution_logo_image_id"), "institution", ["logo_image_id"], unique=False)

    bind = op.get_bind()
    image = sa.table(
        "image",
        sa.column("id", sa.Integer),
        sa.column("content_type", sa.String),
        sa.column("width", sa.Integer),
        sa.column("height", sa.Integer),
        sa.column("sha256", sa.String),
        sa.column("data", sa.LargeBinary),
        sa.column("thumb_width", sa.Integer),
        sa.column("thumb_height", sa.Integer),
        sa.column("thumb_sha256", sa.String),
        sa.column("thumb_data", sa.LargeBinary),
        sa.column("byte_size", sa.Integer),
        sa.column("institution_id", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = bind.execute(sa.text("SELECT id, logo FROM institution WHERE logo IS NOT NULL")).all()
    for institution_id, logo in rows:
        converted = _reencode(bytes(logo))
        if converted is None:
            continue
        content_type, (large, width, height), (thumb, thumb_width, thumb_height) = converted
        image_id = bind.execute(
            image.insert()
            .values(
                content_type=content_type,
                width=width,
                height=height,
                sha256=hashlib.sha256(large).hexdigest(),
                data=large,
                thumb_width=thumb_width,
                thumb_height=thumb_height,
                thumb_sha256=hashlib.sha256(thumb).hexdigest(),
                thumb_data=thumb,
                byte_size=len(large),
                institution_id=institution_id,
                created_at=datetime.now(timezone.utc),
            )
            .returning(image.c.id)
        ).scalar_one()
        bind.execute(
            sa.text("UPDATE institution SET logo_image_id = :image WHERE id = :id"),
            {"image": image_id, "id": institution_id},
        )
    op.execute("ALTER TABLE institution DROP COLUMN logo")
    op.execute("ALTER TABLE institution DROP COLUMN logo_type")


def downgrade():
    op.add_column("institution", sa.Column("logo", sa.LargeBinary(), nullable=True))
    op.add_column("institution", sa.Column("logo_type", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE institution SET logo = (SELECT data FROM image WHERE image.id = institution.logo_image_id), "
        "logo_type = (SELECT content_type FROM image WHERE image.id = institution.logo_image_id) "
        "WHERE logo_image_id IS NOT NULL"
    )
    op.drop_index(op.f("ix_institution_logo_image_id"), table_name="institution")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_institution_logo_image_id_image"), "institution", type_="foreignkey")
        op.drop_column("institution", "logo_image_id")
    else:
        # SQLite cannot drop a column a foreign key is on without rebuilding `institution`:
        # the column stays, empty.
        op.execute("UPDATE institution SET logo_image_id = NULL")
