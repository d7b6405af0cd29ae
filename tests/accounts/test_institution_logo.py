"""The institution's logo: an uploaded picture like any other (core/images.py), through the
form and the API, and the migration that moved the logos stored before."""

from __future__ import annotations

import io
import re
from pathlib import Path

from flask_migrate import downgrade, upgrade
from PIL import Image
from sqlalchemy import create_engine, func, select, text

from app import create_app
from core.extensions import db
from core.images import UploadedImage
from core.models import Institution
from tests.conftest import ROOT, TEST_CONFIG
from tests.core.test_images import jpeg_with_gps_and_orientation, picture
from tests.events.test_api import error_of, token_for
from tests.factories import login, make_institution, make_liaison, make_user

FAKE_PNG = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"


def image_count() -> int:
    return db.session.execute(select(func.count()).select_from(UploadedImage)).scalar_one()


def setup_liaison(app) -> str:
    with app.app_context():
        institution = make_institution("inegi", name="Instituto de Estadística")
        return make_liaison(institution, "enlace@inegi.example").email


def edit_form(client, **extra):
    data = {
        "name": "Instituto de Estadística",
        "acronym": "INEGI",
        "slug": "inegi",
        "government_order": "federal",
        "timezone": "America/Mexico_City",
        "description": "Datos de todo el país.",
    }
    data.update(extra)
    return client.post("/institutions/inegi/edit", data=data, content_type="multipart/form-data")


def logo_src(page: str) -> str:
    return re.search(r'<img class="logo" src="([^"]+)"', page).group(1)


def test_form_logo_is_reencoded_without_metadata_replaced_and_removed(app, client):
    email = setup_liaison(app)
    login(client, email)
    response = edit_form(client, logo=(io.BytesIO(jpeg_with_gps_and_orientation(2400, 1200)), "foto.jpg"))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = client.get("/institutions/inegi").get_data(as_text=True)
    src = logo_src(page)
    assert 'alt="Logotipo de Instituto de Estadística"' in page
    served = client.get(src)
    assert served.status_code == 200 and "immutable" in served.headers["Cache-Control"]
    assert dict(Image.open(io.BytesIO(served.data)).getexif()) == {} and b"secreto" not in served.data
    # The old address still leads to the logo.
    old = client.get("/institutions/inegi/logo")
    assert old.status_code == 302 and re.match(r"/media/\d+-[0-9a-f]{16}\.jpg$", old.headers["Location"])

    assert edit_form(client, logo=(io.BytesIO(picture(fmt="PNG")), "otro.png")).status_code == 302
    second = logo_src(client.get("/institutions/inegi").get_data(as_text=True))
    assert second != src and second.endswith(".png")
    assert client.get(src).status_code == 404  # the replaced picture is gone
    with app.app_context():
        assert image_count() == 1

    # Saving other fields keeps the logo; the checkbox takes it off.
    assert edit_form(client, description="Otra descripción").status_code == 302
    assert logo_src(client.get("/institutions/inegi").get_data(as_text=True)) == second
    assert edit_form(client, remove_logo="y").status_code == 302
    assert '<img class="logo"' not in client.get("/institutions/inegi").get_data(as_text=True)
    assert client.get("/institutions/inegi/logo").status_code == 404
    with app.app_context():
        assert image_count() == 0
        assert db.session.execute(select(Institution.logo_image_id)).scalar_one() is None


def test_form_refuses_what_is_not_a_picture_and_keeps_the_rest(app, client):
    email = setup_liaison(app)
    login(client, email)
    response = edit_form(client, description="Nueva descripción", logo=(io.BytesIO(FAKE_PNG), "logo.png"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nueva descripción" in page  # what was typed is still in the form
    assert "Sube una imagen JPEG, PNG o WebP." in page
    with app.app_context():
        assert image_count() == 0
        assert db.session.execute(select(Institution.description)).scalar_one() is None  # nothing saved


def put_logo(client, headers, data: bytes, name="logo.png"):
    return client.put(
        "/api/v1/institutions/inegi/logo",
        data={"logo": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def test_api_logo_set_shown_and_removed(app, client):
    email = setup_liaison(app)
    headers = token_for(client, email)
    assert client.get("/api/v1/institutions/inegi").json["logo"] is None
    response = put_logo(client, headers, picture(2000, 500, fmt="WEBP"), name="logo.png")
    assert response.status_code == 200, response.json
    logo = response.json["logo"]
    assert (logo["width"], logo["height"]) == (1600, 400) and logo["url"].endswith(".webp")
    assert client.get(logo["thumbnail_url"]).status_code == 200
    assert client.get("/api/v1/institutions/inegi").json["logo"] == logo

    assert "logo" in error_of(put_logo(client, headers, FAKE_PNG), 422)["fields"]
    assert "logo" in error_of(put_logo(client, headers, b""), 422)["fields"]
    error_of(client.put("/api/v1/institutions/inegi/logo", json={"logo": "x"}, headers=headers), 415)
    error_of(put_logo(client, {}, picture()), 401)
    with app.app_context():
        citizen = make_user("ciudadana@example.org").email
    error_of(put_logo(client, token_for(client, citizen), picture()), 403)
    assert client.get("/api/v1/institutions/inegi").json["logo"] == logo  # refusals changed nothing

    assert client.delete("/api/v1/institutions/inegi/logo", headers=headers).status_code == 204
    assert client.get("/api/v1/institutions/inegi").json["logo"] is None
    assert client.get(logo["url"]).status_code == 404
    with app.app_context():
        assert image_count() == 0


def test_migration_moves_stored_logos_to_images(tmp_path: Path):
    from alembic.script import ScriptDirectory

    revision = "f2c4e6a8b013"
    before = ScriptDirectory(str(ROOT / "migrations")).get_revision(revision).down_revision
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    migration_app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with migration_app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=before)
    engine = create_engine(url)
    photo = jpeg_with_gps_and_orientation(2400, 1200)
    with engine.begin() as conn:
        for institution_id, logo, kind in (
            (1, photo, "image/jpeg"),
            (2, FAKE_PNG, "image/png"),
            (3, None, None),
        ):
            conn.execute(
                text(
                    "INSERT INTO institution (id, slug, name, government_order, timezone, created_at, logo, "
                    "logo_type) VALUES (:id, :slug, 'X', 'federal', 'America/Mexico_City', '2029-01-01', "
                    ":logo, :kind)"
                ),
                {"id": institution_id, "slug": f"i{institution_id}", "logo": logo, "kind": kind},
            )
    with migration_app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=revision)
    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT id, logo_image_id FROM institution")).all())
        assert rows[2] is None and rows[3] is None  # an unreadable logo is dropped
        image = conn.execute(
            text("SELECT content_type, width, height, data, institution_id FROM image WHERE id = :id"),
            {"id": rows[1]},
        ).one()
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(institution)"))}
    assert image.content_type == "image/jpeg" and image.institution_id == 1
    # Turned upright (the photo's orientation tag says 90°), at most 1600 px wide, no EXIF left.
    assert image.width <= 1600 and image.height > image.width
    assert dict(Image.open(io.BytesIO(image.data)).getexif()) == {} and b"secreto" not in image.data
    assert "logo" not in columns and "logo_type" not in columns
    with migration_app.app_context():
        downgrade(directory=str(ROOT / "migrations"), revision=before)
    with engine.begin() as conn:
        back = conn.execute(text("SELECT logo, logo_type FROM institution WHERE id = 1")).one()
    assert back.logo_type == "image/jpeg" and Image.open(io.BytesIO(back.logo)).format == "JPEG"
