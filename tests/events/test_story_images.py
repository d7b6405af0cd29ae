"""Pictures inside success stories (Markdown references to our own /media/ only, alt required),
and pictures let go of with a deleted draft or a story that no longer shows them."""

from __future__ import annotations

import io
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from core.images import UploadedImage
from events import services
from events.models import Event, StoryImage
from tests.core.test_images import jpeg_with_gps_and_orientation, picture
from tests.events.test_api import error_of, token_for
from tests.events.test_images import image_count, make_user_by_email, put_cover, setup_event
from tests.factories import login


def test_deleting_a_draft_deletes_its_cover(app, client):
    event_id, email = setup_event(app, publish=False)
    headers = token_for(client, email)
    url = put_cover(client, event_id, headers, picture()).json["cover"]["url"]
    assert client.delete(f"/api/v1/events/{event_id}", headers=headers).status_code == 204
    assert client.get(url).status_code == 404
    with app.app_context():
        assert image_count() == 0


def concluded_event(app) -> tuple[int, str]:
    event_id, email = setup_event(app)
    with app.app_context():
        event = db.session.get(Event, event_id)
        liaison = make_user_by_email(email)
        with freeze_time(event.ends_at + timedelta(hours=1)):
            services.record_outcome(liaison, event, minutes="Listo")
    return event_id, email


def story_form(**overrides):
    return {"title": "Agua para todos", "body": "Publicamos los datos.", "datasets": "", **overrides}


def test_story_images_need_alt_come_only_from_us_and_go_when_unused(app, client):
    event_id, email = concluded_event(app)
    login(client, email)
    missing_alt = client.post(
        f"/events/{event_id}/story",
        data=story_form(image=(io.BytesIO(picture(fmt="PNG")), "foto.png")),
        content_type="multipart/form-data",
    )
    assert missing_alt.status_code == 422 and 'id="image_alt-error"' in missing_alt.get_data(as_text=True)
    added = client.post(
        f"/events/{event_id}/story",
        data=story_form(
            image=(io.BytesIO(jpeg_with_gps_and_orientation()), "foto.jpg"), image_alt="Taller [día 1]"
        ),
        content_type="multipart/form-data",
    )
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/events/{event_id}/story#body")
    with app.app_context():
        story = services.story_of(db.session.get(Event, event_id))
        story_id, body = story.id, story.body
        image = db.session.execute(select(UploadedImage)).scalar_one()
        assert db.session.execute(select(StoryImage.image_id)).scalars().all() == [image.id]
        path = image.path
    assert body.endswith(f"![Taller \\[día 1\\]]({path})")
    page = client.get(f"/stories/{story_id}").get_data(as_text=True)
    assert f'<img src="{path}" alt="Taller [día 1]" loading="lazy">' in page

    foreign = client.post(
        f"/events/{event_id}/story", data=story_form(body="Mira ![gato](https://gatos.example/g.png)")
    )
    assert foreign.status_code == 422 and "otros sitios" in foreign.get_data(as_text=True)
    empty_alt = client.post(f"/events/{event_id}/story", data=story_form(body=f"Mira ![]({path})"))
    assert empty_alt.status_code == 422 and "texto alternativo" in empty_alt.get_data(as_text=True)
    with app.app_context():
        assert image_count() == 1

    moved = client.post(f"/events/{event_id}/story", data=story_form(body=f"Antes\n\n{body}\n\nDespués"))
    assert moved.status_code == 302
    dropped = client.post(f"/events/{event_id}/story", data=story_form(body="Ya sin foto."))
    assert dropped.status_code == 302
    assert client.get(path).status_code == 404
    with app.app_context():
        assert image_count() == 0


def test_story_api_refuses_foreign_images(app, client):
    event_id, email = concluded_event(app)
    headers = token_for(client, email)
    response = client.put(
        f"/api/v1/events/{event_id}/story",
        json={"title": "Historia", "body": "![x](https://evil.example/x.png)", "published": False},
        headers=headers,
    )
    assert "body" in error_of(response, 422)["fields"]
