"""Uploaded images: checked by content, re-encoded without metadata, served with safe headers."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image

from core.exceptions import DomainError
from core.extensions import db
from core.images import (
    LARGE_WIDTH,
    MAX_UPLOAD_BYTES,
    THUMB_WIDTH,
    UploadedImage,
    image_for_path,
    process_image,
    prune_images,
    store_image,
)


def picture(width=64, height=48, fmt="PNG", mode="RGB", **save) -> bytes:
    """A real image made with Pillow (a gradient, so encoders have something to do)."""
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0 if mode == "RGBA" else 255))
    for x in range(0, width, max(1, width // 16)):
        image.paste((0, 0, 128, 255), (x, 0, min(width, x + 2), height))
    image = image.convert(mode) if mode != "I;16" else image.convert("L").convert("I;16")
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_gps_and_orientation(width=80, height=40) -> bytes:
    """A camera-like JPEG: GPS position, camera model, and "rotate 90°" orientation."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Cámara de prueba"
    exif[ExifTags.Base.Orientation] = 6
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (19.0, 25.0, 57.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (99.0, 7.0, 59.0)
    return picture(width, height, "JPEG", exif=exif.tobytes(), comment=b"secreto")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces `width` × `height` greyscale pixels in a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def refused(data: bytes) -> DomainError:
    with pytest.raises(DomainError) as caught:
        process_image(data, "cover")
    assert caught.value.field == "cover"
    return caught.value


def test_type_comes_from_the_content_not_the_name():
    processed = process_image(picture(fmt="PNG"))  # what a "foto.jpg" holding a PNG sends
    assert processed.content_type == "image/png"
    assert Image.open(io.BytesIO(processed.large.data)).format == "PNG"
    assert process_image(picture(fmt="WEBP")).content_type == "image/webp"
    assert process_image(picture(fmt="JPEG")).content_type == "image/jpeg"


def test_text_svg_gif_and_tiff_are_refused():
    assert refused(b"hola, no soy una imagen\n").status == 422
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert "JPEG, PNG o WebP" in str(refused(svg).message)
    refused(picture(fmt="GIF"))
    refused(picture(fmt="TIFF"))
    refused(b"")


def test_a_polyglot_loses_its_payload():
    payload = b"<html><script>alert(document.cookie)</script></html>"
    processed = process_image(picture(fmt="PNG") + payload)  # a valid PNG with HTML after IEND
    assert b"<script" not in processed.large.data and b"<script" not in processed.thumb.data
    # An HTML page that only starts like a PNG is not an image.
    refused(b"\x89PNG\r\n\x1a\n" + payload)
    # A truncated image is refused, not half-decoded.
    refused(picture(400, 300, fmt="JPEG")[:300])


def test_decompression_bombs_are_refused_before_decoding():
    error = refused(png_header_only(20000, 20000))
    assert error.status == 422 and "megapíxeles" in str(error.message)
    refused(png_header_only(17000, 10))  # one side beyond the limit, few pixels
    refused(png_header_only(9000, 6000))  # 54 megapixels: over the limit, under Pillow's error


def test_animated_images_are_refused():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:])
    assert "animadas" in str(refused(out.getvalue()).message)


def test_too_heavy_is_413():
    assert refused(b"\xff\xd8\xff" + b"0" * MAX_UPLOAD_BYTES).status == 413


def test_exif_gps_and_comments_are_stripped_and_the_photo_turned_upright():
    original = jpeg_with_gps_and_orientation(80, 40)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    processed = process_image(original)
    for data in (processed.large.data, processed.thumb.data):
        result = Image.open(io.BytesIO(data))
        assert dict(result.getexif()) == {}
        assert "exif" not in result.info and "comment" not in result.info
        assert b"prueba" not in data and b"secreto" not in data
        assert result.size == (40, 80)  # orientation 6 applied, then forgotten


def test_png_text_chunks_are_stripped():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Persona Privada")
    processed = process_image(picture(fmt="PNG", pnginfo=info))
    assert b"Persona Privada" not in processed.large.data
    assert Image.open(io.BytesIO(processed.large.data)).text == {}


def test_resized_and_thumbnail_keep_the_proportions():
    processed = process_image(picture(3200, 1800, fmt="JPEG"))
    assert (processed.large.width, processed.large.height) == (LARGE_WIDTH, 900)
    assert (processed.thumb.width, processed.thumb.height) == (THUMB_WIDTH, 360)
    small = process_image(picture(300, 200, fmt="PNG"))
    assert (small.large.width, small.thumb.width) == (300, 300)  # never enlarged


def test_transparency_kept_in_png_and_modes_normalised():
    assert Image.open(io.BytesIO(process_image(picture(mode="RGBA")).large.data)).mode == "RGBA"
    assert Image.open(io.BytesIO(process_image(picture(fmt="JPEG", mode="CMYK")).large.data)).mode == "RGB"
    assert process_image(picture(fmt="PNG", mode="I;16")).content_type == "image/png"
    assert process_image(picture(fmt="PNG", mode="P")).content_type == "image/png"


def _stored(app, data: bytes) -> tuple[int, str, str]:
    with app.app_context():
        image = store_image(process_image(data), institution_id=None, uploaded_by_id=None)
        db.session.commit()
        return image.id, image.path, image.thumb_path


def test_served_with_type_nosniff_immutable_cache_etag_and_inline(app, client):
    image_id, path, thumb_path = _stored(app, picture(2000, 1000, fmt="PNG"))
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Disposition"] == f'inline; filename="{image_id}.png"'
    assert "sandbox" in response.headers["Content-Security-Policy"]
    etag = response.headers["ETag"]
    assert Image.open(io.BytesIO(response.data)).size == (LARGE_WIDTH, 800)
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    thumb = client.get(thumb_path)
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.data)).width == THUMB_WIDTH
    assert thumb.headers["ETag"] != etag


def test_wrong_key_extension_or_id_is_404(app, client):
    image_id, path, _ = _stored(app, picture(fmt="JPEG"))
    assert client.get(path.replace(".jpg", ".png")).status_code == 404
    assert client.get(f"/media/{image_id}-0000000000000000.jpg").status_code == 404
    assert client.get(f"/media/{image_id + 1}-0000000000000000.jpg").status_code == 404
    assert client.get("/media/99999999999-0000000000000000.jpg").status_code == 404
    with app.app_context():
        assert image_for_path(path).id == image_id
        assert image_for_path("https://elsewhere.example/x.jpg") is None
        assert image_for_path("/media/99999999999-0000000000000000.jpg") is None


def test_prune_keeps_nothing_unreferenced(app):
    image_id, _, _ = _stored(app, picture())
    with app.app_context():
        assert prune_images([image_id, None]) == 1
        db.session.commit()
        assert db.session.get(UploadedImage, image_id) is None
