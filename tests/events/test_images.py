"""Pictures of events: the cover (form and API) and images inside success stories."""

from __future__ import annotations

import io
import re

from PIL import Image
from sqlalchemy import func, select

from core.extensions import db
from core.images import UploadedImage
from events import services
from events.models import Event
from tests.core.test_images import jpeg_with_gps_and_orientation, picture
from tests.events.test_api import error_of, token_for
from tests.events.test_pages import form_data
from tests.factories import PASSWORD, login, make_event, make_institution, make_liaison, make_user


def image_count() -> int:
    return db.session.execute(select(func.count()).select_from(UploadedImage)).scalar_one()


def setup_event(app, **fields) -> tuple[int, str]:
    with app.app_context():
        institution = make_institution("inegi")
        liaison = make_liaison(institution, "enlace@inegi.example")
        event = make_event(institution, actor=liaison, **fields)
        return event.id, liaison.email


def put_cover(
    client, event_id, headers, data: bytes, *, alt="Personas trabajando con datos", name="foto.jpg"
):
    body = {"image": (io.BytesIO(data), name, "image/jpeg")}
    if alt is not None:
        body["alt"] = alt
    return client.put(
        f"/api/v1/events/{event_id}/cover", data=body, headers=headers, content_type="multipart/form-data"
    )


def test_api_cover_is_typed_by_content_and_listed_in_the_event(app, client):
    event_id, email = setup_event(app)
    headers = token_for(client, email)
    response = put_cover(client, event_id, headers, picture(2400, 1200, fmt="PNG"), name="foto.jpg")
    assert response.status_code == 200, response.json
    cover = response.json["cover"]
    assert cover["alt"] == "Personas trabajando con datos"
    assert (cover["width"], cover["height"]) == (1600, 800)
    assert cover["url"].endswith(".png")  # a PNG named .jpg is a PNG
    served = client.get(cover["url"])
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"]
    assert client.get(f"/api/v1/events/{event_id}").json["cover"] == cover
    assert client.get("/api/v1/events").json[0]["cover"]["url"] == cover["url"]


def test_api_cover_strips_gps_and_replacing_deletes_the_old_picture(app, client):
    event_id, email = setup_event(app)
    headers = token_for(client, email)
    first = put_cover(client, event_id, headers, jpeg_with_gps_and_orientation()).json["cover"]
    data = client.get(first["url"]).data
    assert dict(Image.open(io.BytesIO(data)).getexif()) == {}
    second = put_cover(client, event_id, headers, picture(fmt="WEBP"), alt="Otra").json["cover"]
    assert second["url"].endswith(".webp")
    assert client.get(first["url"]).status_code == 404
    with app.app_context():
        assert image_count() == 1
    assert client.delete(f"/api/v1/events/{event_id}/cover", headers=headers).status_code == 204
    assert client.get(f"/api/v1/events/{event_id}").json["cover"] is None
    assert client.get(second["url"]).status_code == 404
    with app.app_context():
        assert image_count() == 0


def test_api_cover_refusals(app, client):
    event_id, email = setup_event(app)
    headers = token_for(client, email)
    no_alt = error_of(put_cover(client, event_id, headers, picture(), alt=None), 422)
    assert "alt" in no_alt["fields"]
    assert "alt" in error_of(put_cover(client, event_id, headers, picture(), alt="  "), 422)["fields"]
    text = error_of(put_cover(client, event_id, headers, b"no soy imagen", name="foto.png"), 422)
    assert "image" in text["fields"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    assert "image" in error_of(put_cover(client, event_id, headers, svg, name="a.svg"), 422)["fields"]
    heavy = b"\xff\xd8\xff" + b"0" * (8 * 1024 * 1024 + 10)
    error_of(put_cover(client, event_id, headers, heavy), 413)
    too_big_for_any_request = b"0" * (10 * 1024 * 1024)
    error_of(put_cover(client, event_id, headers, too_big_for_any_request), 413)
    json_body = client.put(f"/api/v1/events/{event_id}/cover", json={"alt": "x"}, headers=headers)
    error_of(json_body, 415)
    error_of(put_cover(client, event_id, {}, picture()), 401)
    other = make_other_liaison(app)
    error_of(put_cover(client, event_id, token_for(client, other), picture()), 403)
    with app.app_context():
        assert image_count() == 0


def make_other_liaison(app) -> str:
    with app.app_context():
        return make_liaison(make_institution("salud"), "enlace@salud.example").email


def test_form_cover_needs_alt_then_shows_on_page_list_and_opengraph(app, client):
    setup_event(app)
    login(client, "enlace@inegi.example")
    without_alt = client.post(
        "/events/new",
        data=form_data(cover=(io.BytesIO(picture(1200, 600, fmt="JPEG")), "portada.jpg")),
        content_type="multipart/form-data",
    )
    assert without_alt.status_code == 422
    html = without_alt.get_data(as_text=True)
    assert 'id="cover_alt-error"' in html and "texto alternativo" in html
    assert "vuelve a elegirla" in html
    not_image = client.post(
        "/events/new",
        data=form_data(cover=(io.BytesIO(b"hola"), "portada.png"), cover_alt="Algo"),
        content_type="multipart/form-data",
    )
    assert not_image.status_code == 422 and 'id="cover-error"' in not_image.get_data(as_text=True)
    created = client.post(
        "/events/new",
        data=form_data(
            cover=(io.BytesIO(picture(1200, 600, fmt="JPEG")), "portada.jpg"),
            cover_alt="Mapa de rutas de transporte",
        ),
        content_type="multipart/form-data",
    )
    assert created.status_code == 302
    with app.app_context():
        event = db.session.execute(select(Event).where(Event.title == form_data()["title"])).scalar_one()
        services.publish_event(None, event)
        event_id, path, thumb = event.id, event.cover.path, event.cover.thumb_path
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert f'src="{path}"' in page and 'alt="Mapa de rutas de transporte"' in page
    assert re.search(rf'<meta property="og:image" content="http[^"]+{re.escape(path)}">', page)
    assert '<meta property="og:image:alt" content="Mapa de rutas de transporte">' in page
    listing = client.get("/events").get_data(as_text=True)
    assert f'src="{thumb}"' in listing and 'alt="Mapa de rutas de transporte"' in listing


def test_form_edit_keeps_requires_alt_and_removes_the_cover(app, client):
    event_id, email = setup_event(app)
    put_cover(client, event_id, token_for(client, email), picture())
    login(client, email)
    edit = client.get(f"/events/{event_id}/edit").get_data(as_text=True)
    assert 'value="Personas trabajando con datos"' in edit and "Quitar la imagen de portada" in edit
    base = form_data(kind="datathon", seats_academia="", seats_civil_society="")
    assert client.post(f"/events/{event_id}/edit", data={**base, "cover_alt": ""}).status_code == 422
    assert client.post(f"/events/{event_id}/edit", data={**base, "cover_alt": "Nuevo"}).status_code == 302
    with app.app_context():
        assert db.session.get(Event, event_id).cover_alt == "Nuevo"
    removed = client.post(f"/events/{event_id}/edit", data={**base, "cover_alt": "", "remove_cover": "y"})
    assert removed.status_code == 302
    with app.app_context():
        assert db.session.get(Event, event_id).cover_image_id is None and image_count() == 0


def make_user_by_email(email: str):
    from accounts.services import find_user

    return find_user(email)


def test_erasing_an_account_deletes_its_unused_uploads_only(app, client):
    event_id, email = setup_event(app)
    headers = token_for(client, email)
    put_cover(client, event_id, headers, picture())
    with app.app_context():
        from core.images import process_image, store_image

        liaison = make_user_by_email(email)
        store_image(process_image(picture(fmt="WEBP")), institution_id=None, uploaded_by_id=liaison.id)
        db.session.commit()
        assert image_count() == 2
        from accounts.services import delete_account, export_personal_data

        exported = export_personal_data(liaison)["uploaded_images"]
        assert len(exported) == 2 and all("/media/" in item["url"] for item in exported)

        delete_account(liaison, PASSWORD)
        assert image_count() == 1  # the event's cover is the institution's and stays
        assert db.session.get(Event, event_id).cover is not None


def test_a_citizen_cannot_set_a_cover(app, client):
    event_id, _ = setup_event(app)
    with app.app_context():
        make_user("ciudadana@example.org")
    error_of(put_cover(client, event_id, token_for(client, "ciudadana@example.org"), picture()), 403)


def test_a_duplicate_shares_the_cover_and_keeps_it_when_the_source_drops_it(app, client):
    event_id, email = setup_event(app)
    headers = token_for(client, email)
    cover = put_cover(client, event_id, headers, picture(fmt="PNG")).json["cover"]
    source = client.get(f"/api/v1/events/{event_id}").json
    new_start = source["starts_at"].replace(source["starts_at"][:4], str(int(source["starts_at"][:4]) + 1), 1)
    new_end = source["ends_at"].replace(source["ends_at"][:4], str(int(source["ends_at"][:4]) + 1), 1)
    copy = client.post(
        f"/api/v1/events/{event_id}/duplicate",
        json={"starts_at": new_start, "ends_at": new_end},
        headers=headers,
    )
    assert copy.status_code == 201, copy.json
    assert copy.json["cover"] == cover
    assert client.delete(f"/api/v1/events/{event_id}/cover", headers=headers).status_code == 204
    assert client.get(cover["url"]).status_code == 200  # the duplicate still shows it
    with app.app_context():
        assert image_count() == 1
