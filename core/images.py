"""Uploaded images (event covers, pictures in success stories).

An upload is checked by what it *is*, never by its name or declared type: Pillow must
recognise it as JPEG, PNG or WebP from its bytes, its dimensions are checked from the header
before any pixel is decoded (decompression bombs), and it is then decoded, turned upright,
resized and **re-encoded** from bare pixels, so nothing of the original file survives: no
EXIF (GPS, camera, dates), no text chunks, no trailing bytes of a polyglot.

The renditions are stored in the database (table `image`), so every gunicorn worker on every
machine serves the same bytes without a shared disk. They are served at content-addressed
URLs (`/media/<id>-<first 16 hex of the SHA-256>.<ext>`), hence cached for a year as immutable.

Core knows nothing of what uses an image: domains register the ids they refer to
(`register_image_references`), and `prune_images` deletes the candidates nothing refers to.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask_babel import lazy_gettext as _l
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, UnidentifiedImageError
from sqlalchemy import ForeignKey, LargeBinary, String, delete, select, union
from sqlalchemy.orm import Mapped, mapped_column
from wtforms.validators import ValidationError

from core.exceptions import DomainError
from core.extensions import db
from core.timeutil import UTCDateTime, utcnow
from core.urls import MAX_ID

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
# 50 megapixels: a phone's full-resolution photo (8160 × 6120) fits, a bomb does not.
MAX_PIXELS = 50_000_000
MAX_SIDE = 16_383  # WebP's own limit
LARGE_WIDTH = 1600
THUMB_WIDTH = 640
MAX_HEIGHT_RATIO = 4  # a rendition is at most four times as tall as it is wide at most
ALT_MAX_LENGTH = 300

# Pillow refuses to open anything larger than twice this (DecompressionBombError) and warns
# above it; our own check below refuses anything above it before decoding.
PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
EXTENSIONS = dict(FORMATS.values())
ACCEPT = ",".join(content_type for content_type, _ in FORMATS.values())

# Our own media URLs, relative (as written in stories) or absolute.
MEDIA_PATH = re.compile(r"^/media/(?P<id>[1-9][0-9]{0,9})-(?P<key>[0-9a-f]{16})\.(?P<ext>jpg|png|webp)$")


class UploadedImage(db.Model):
    """One uploaded picture: its re-encoded large rendition and thumbnail, without metadata."""

    __tablename__ = "image"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_type: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    thumb_width: Mapped[int] = mapped_column()
    thumb_height: Mapped[int] = mapped_column()
    thumb_sha256: Mapped[str] = mapped_column(String(64))
    thumb_data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    byte_size: Mapped[int] = mapped_column()
    # Whose picture it is: an institution's content; the uploader only for erasure.
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id", ondelete="CASCADE"), index=True
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]

    @property
    def path(self) -> str:
        """The large rendition's URL path (what stories and the API carry)."""
        return f"/media/{self.id}-{self.sha256[:16]}.{self.extension}"

    @property
    def thumb_path(self) -> str:
        """The thumbnail's URL path."""
        return f"/media/{self.id}-{self.thumb_sha256[:16]}.{self.extension}"


# --- processing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendition:
    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ProcessedImage:
    """An accepted upload, re-encoded: what `store_image` writes."""

    content_type: str
    large: Rendition
    thumb: Rendition


def _refuse(message: Any, field_name: str, status: int = 422) -> DomainError:
    return DomainError(
        message, field=field_name, status=status, code="invalid_image" if status == 422 else None
    )


def _not_an_image(field_name: str) -> DomainError:
    return _refuse(_l("Sube una imagen JPEG, PNG o WebP."), field_name)


def _too_many_pixels(field_name: str) -> DomainError:
    return _refuse(
        _l("La imagen es demasiado grande: como máximo 50 megapíxeles y 16 383 píxeles por lado."),
        field_name,
    )


def process_image(data: bytes, field_name: str = "image") -> ProcessedImage:
    """Check an upload by its content and re-encode it (resized, upright, without metadata);
    a DomainError names `field_name` when it is not a JPEG, PNG or WebP we accept."""
    if not data:
        raise _refuse(_l("Elige una imagen."), field_name)
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refuse(
            _l("La imagen pesa más de %(mb)s MB. Sube una más ligera.", mb=MAX_UPLOAD_BYTES // (1024 * 1024)),
            field_name,
            status=413,
        )
    try:
        # Only the header is read here: formats= keeps every other decoder (SVG is not one;
        # GIF, TIFF, PSD, … are refused) away from the bytes. Pillow's bomb warning (between
        # MAX_PIXELS and twice that) is an error here, like its bomb error above it.
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            source = PILImage.open(io.BytesIO(data), formats=list(FORMATS))
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _too_many_pixels(field_name) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _not_an_image(field_name) from None
    width, height = source.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise _too_many_pixels(field_name)
    if getattr(source, "n_frames", 1) > 1:
        raise _refuse(_l("Las imágenes animadas no se admiten; sube una imagen fija."), field_name)
    content_type = FORMATS[source.format][0]
    try:
        if source.format == "JPEG":
            # Let the JPEG decoder scale down while decoding: far less memory for big photos.
            source.draft("RGB", (LARGE_WIDTH, LARGE_WIDTH))
        source.load()
        pixels = _upright_srgb(source)
        large = _resized(pixels, LARGE_WIDTH)
        thumb = _resized(large, THUMB_WIDTH)
        return ProcessedImage(content_type, _encode(large, source.format), _encode(thumb, source.format))
    except PILImage.DecompressionBombError:
        raise _too_many_pixels(field_name) from None
    except Exception:  # noqa: BLE001 - any decoder failure on hostile bytes is "not an image"
        raise _not_an_image(field_name) from None


def _upright_srgb(source: PILImage.Image) -> PILImage.Image:
    """Turned as the camera's orientation says, colours in sRGB, RGB or RGBA."""
    image = ImageOps.exif_transpose(source)
    profile = source.info.get("icc_profile")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits before colour conversion.
        image = image.point(lambda value: value / 256).convert("L")
    mode = "RGBA" if has_alpha and source.format != "JPEG" else "RGB"
    image = image.convert(mode)
    if profile:
        # An unreadable or mismatched profile: keep the pixels as they are.
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError, TypeError):
            image = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                ImageCms.createProfile("sRGB"),
                outputMode=mode,
            )
    # Bare pixels only: nothing of the original's info (EXIF, XMP, text, ICC) can follow.
    return PILImage.frombytes(image.mode, image.size, image.tobytes())


def _resized(image: PILImage.Image, width: int) -> PILImage.Image:
    copy = image.copy()
    copy.thumbnail((width, width * MAX_HEIGHT_RATIO), PILImage.Resampling.LANCZOS)
    return copy


def _encode(image: PILImage.Image, format_name: str) -> Rendition:
    out = io.BytesIO()
    if format_name == "JPEG":
        image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif format_name == "PNG":
        image.save(out, "PNG", compress_level=9)
    else:
        image.save(out, "WEBP", quality=82, method=4)
    return Rendition(out.getvalue(), image.width, image.height)


# --- storage ------------------------------------------------------------------------------------


def store_image(
    processed: ProcessedImage, *, institution_id: int | None, uploaded_by_id: int | None
) -> UploadedImage:
    """Add a processed image to the current transaction (flushed, so it has its id)."""
    image = UploadedImage(
        content_type=processed.content_type,
        width=processed.large.width,
        height=processed.large.height,
        sha256=processed.large.sha256,
        data=processed.large.data,
        thumb_width=processed.thumb.width,
        thumb_height=processed.thumb.height,
        thumb_sha256=processed.thumb.sha256,
        thumb_data=processed.thumb.data,
        byte_size=len(processed.large.data),
        institution_id=institution_id,
        uploaded_by_id=uploaded_by_id,
    )
    db.session.add(image)
    db.session.flush()
    return image


def image_dict(image: UploadedImage | None) -> dict[str, Any] | None:
    """An image as the API shows it: its path, size and thumbnail's path (None stays None)."""
    if image is None:
        return None
    return {
        "url": image.path,
        "width": image.width,
        "height": image.height,
        "thumbnail_url": image.thumb_path,
    }


def image_for_path(path: str | None) -> UploadedImage | None:
    """The image a `/media/…` path (of its large rendition) points to, or None."""
    match = MEDIA_PATH.match(path or "")
    if match is None or int(match["id"]) > MAX_ID:
        return None
    image = db.session.get(UploadedImage, int(match["id"]))
    if image is None or image.sha256[:16] != match["key"] or image.extension != match["ext"]:
        return None
    return image


# Each returns a SELECT of the image ids a domain refers to (event covers, story pictures).
_REFERENCES: list[Callable[[], Any]] = []


def register_image_references(referenced_ids: Callable[[], Any]) -> None:
    """Let a domain say which images are in use, so `prune_images` keeps them."""
    if referenced_ids not in _REFERENCES:
        _REFERENCES.append(referenced_ids)


def prune_images(candidate_ids: Iterable[int | None]) -> int:
    """Delete, in the current transaction, those of `candidate_ids` nothing refers to."""
    ids = {image_id for image_id in candidate_ids if image_id is not None}
    if not ids:
        return 0
    db.session.flush()
    condition = UploadedImage.id.in_(ids)
    if _REFERENCES:
        referenced = union(*(query() for query in _REFERENCES)).subquery()
        condition = condition & UploadedImage.id.not_in(select(referenced.c[0]))
    result = db.session.execute(
        delete(UploadedImage).where(condition).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def export_uploads_of(user: Any) -> list[dict[str, Any]]:
    """The pictures a person uploaded (ARCO: access), as addresses with their dates."""
    images = db.session.execute(
        select(UploadedImage).where(UploadedImage.uploaded_by_id == user.id).order_by(UploadedImage.id)
    ).scalars()
    return [{"url": media_url(image.path), "uploaded_at": image.created_at.isoformat()} for image in images]


def erase_uploads_of(user: Any) -> None:
    """On account deletion: the person's uploads that nothing uses any more go too."""
    ids = db.session.execute(
        select(UploadedImage.id).where(UploadedImage.uploaded_by_id == user.id)
    ).scalars()
    prune_images(list(ids))


# --- serving ------------------------------------------------------------------------------------

bp = Blueprint("media", __name__)

CACHE_FOREVER = "public, max-age=31536000, immutable"


@bp.get("/media/<id:image_id>-<key>.<any(jpg,png,webp):ext>")
def media(image_id: int, key: str, ext: str):
    """An image's bytes at its content-addressed URL (large rendition or thumbnail)."""
    row = db.session.execute(
        select(UploadedImage.content_type, UploadedImage.sha256, UploadedImage.thumb_sha256).where(
            UploadedImage.id == image_id
        )
    ).one_or_none()
    if row is None or len(key) != 16 or EXTENSIONS[row.content_type] != ext:
        abort(404)
    if row.sha256[:16] == key:
        column, digest = UploadedImage.data, row.sha256
    elif row.thumb_sha256[:16] == key:
        column, digest = UploadedImage.thumb_data, row.thumb_sha256
    else:
        abort(404)
    response = Response(mimetype=row.content_type)
    response.set_etag(digest)
    response.headers["Cache-Control"] = CACHE_FOREVER
    response.headers["Content-Disposition"] = f'inline; filename="{image_id}.{ext}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Opened on its own, an image runs nothing and embeds nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    if request.if_none_match.contains(digest):
        response.status_code = 304
        return response
    response.set_data(db.session.execute(select(column).where(UploadedImage.id == image_id)).scalar_one())
    return response


# --- larger requests where images are uploaded ------------------------------------------------

_UPLOAD_ENDPOINTS: set[str] = set()
# Room for the other fields of a form that carries an image (a long description, …).
FORM_ALLOWANCE = 1024 * 1024


def accepts_image_uploads(*endpoints: str) -> None:
    """Let these endpoints take a request as large as an image plus its form, instead of the
    app-wide MAX_CONTENT_LENGTH."""
    _UPLOAD_ENDPOINTS.update(endpoints)


def _widen_upload_limit() -> None:
    if request.endpoint in _UPLOAD_ENDPOINTS:
        request.max_content_length = max(
            current_app.config.get("MAX_CONTENT_LENGTH") or 0, MAX_UPLOAD_BYTES + FORM_ALLOWANCE
        )


def init_images(app: Flask) -> None:
    """Serve /media/ and widen the request limit on upload endpoints before anything reads the
    body (the CSRF check and the input guards parse the form)."""
    app.register_blueprint(bp)
    app.before_request_funcs.setdefault(None, []).insert(0, _widen_upload_limit)
    app.jinja_env.globals.update(media_url=media_url, image_types=ACCEPT)


def media_url(path: str) -> str:
    """The absolute address of a /media/ path on the public site (BASE_URL), for OpenGraph."""
    return current_app.config["BASE_URL"].rstrip("/") + path


# --- forms ---------------------------------------------------------------------------------------


class ImageUpload:
    """WTForms validator of a FileField: when a file is chosen it must be an image we accept;
    the re-encoded result is kept on the field as `processed` (None when no file was chosen)."""

    def __call__(self, form, field) -> None:
        field.processed = None
        upload = field.data
        if upload is None or not getattr(upload, "filename", ""):
            return
        try:
            field.processed = process_image(upload.read(), field.name)
        except DomainError as exc:
            raise ValidationError(str(exc.message)) from None


class AltTextRequired:
    """WTForms validator: a text alternative is required when there is a picture, newly chosen
    in `image_field` or kept (`form.keeps_image` says so, e.g. an event's current cover)."""

    def __init__(self, image_field: str):
        self.image_field = image_field

    def __call__(self, form, field) -> None:
        upload = form[self.image_field].data
        chosen = upload is not None and bool(getattr(upload, "filename", ""))
        if (chosen or getattr(form, "keeps_image", False)) and not (field.data or "").strip():
            raise ValidationError(_l("Describe la imagen para quien no puede verla (texto alternativo)."))
