"""The in-app notification centre: the bell, the list, marking read, links, retention."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from notifications import services
from notifications.models import InAppNotification
from tests.factories import login, make_user


def bell_item(user, title="Te respondieron", link="/institutions", key=None, **extra):
    item = services.notify_in_app(
        to=user, kind="answers.answered", title=title, link=link, dedupe_key=key, **extra
    )
    db.session.commit()
    return item


def test_bell_shows_the_unread_count_and_the_list_links_each_object(app, client):
    with app.app_context():
        ana = make_user("ana@example.org")
        bell_item(ana, "Primera", key="1")
        bell_item(ana, "Segunda", link="http://promueve.test/privacy", key="2")
        bell_item(make_user(), "De otra persona")
        ana_id = ana.id
    login(client, "ana@example.org")
    home = client.get("/").get_data(as_text=True)
    assert 'class="bell-count">2<' in home and "/notifications" in home
    page = client.get("/notifications").get_data(as_text=True)
    assert "Primera" in page and "Segunda" in page and "De otra persona" not in page
    with app.app_context():
        first, second = db.session.execute(
            select(InAppNotification.id)
            .where(InAppNotification.user_id == ana_id)
            .order_by(InAppNotification.id)
        ).scalars()
    opened = client.get(f"/notifications/{second}/open")
    assert (
        opened.status_code == 302 and opened.headers["Location"] == "/privacy"
    )  # BASE_URL links become paths
    assert 'class="bell-count">1<' in client.get("/").get_data(as_text=True)
    assert client.post(f"/notifications/{first}/read").status_code == 302
    assert "bell-count" not in client.get("/").get_data(as_text=True)
    assert "Nueva" not in client.get("/notifications?unread=1").get_data(as_text=True)


def test_someone_elses_notification_is_404(app, client):
    with app.app_context():
        make_user("ana@example.org")
        other = bell_item(make_user()).id
    login(client, "ana@example.org")
    assert client.get(f"/notifications/{other}/open").status_code == 404
    assert client.post(f"/notifications/{other}/read").status_code == 404


def test_mark_all_read_and_pagination(app, client):
    with app.app_context():
        ana = make_user("ana@example.org")
        for n in range(35):
            bell_item(ana, f"Aviso {n}", key=f"k{n}")
        ana_id = ana.id
    login(client, "ana@example.org")
    first_page = client.get("/notifications").get_data(as_text=True)
    assert "Aviso 34" in first_page and "Aviso 0<" not in first_page and "Página 1 de 2" in first_page
    assert "Aviso 0<" in client.get("/notifications?page=2").get_data(as_text=True)
    client.post("/notifications/read-all")
    with app.app_context():
        assert services.unread_count(db.session.get(User, ana_id)) == 0


def test_entries_are_rendered_in_the_persons_language_and_deduplicated(app, ctx):
    from flask_babel import lazy_gettext as _l

    user = make_user()
    user.locale = "en"
    db.session.commit()
    item = bell_item(user, title=_l("Confirma tu correo en Promueve"), key="same")
    assert item.title == "Confirm your email on Promueve"
    assert bell_item(user, title="otra", key="same").id == item.id
    services.set_preferences(user, {"institution": "off"})
    assert bell_item(user, category="institution") is None


def test_in_app_links_stay_on_the_site(app, ctx):
    import pytest

    with pytest.raises(ValueError):
        bell_item(make_user(), link="https://evil.example/phish")


def test_entries_are_kept_180_days(app, ctx):
    user = make_user()
    with freeze_time(utcnow() - timedelta(days=181)):
        bell_item(user, "Viejo")
    bell_item(user, "Reciente")
    assert services.purge_old_notifications()["in_app"] == 1
    titles = db.session.execute(select(InAppNotification.title)).scalars().all()
    assert titles == ["Reciente"]


def test_in_app_api(app, client):
    with app.app_context():
        item_id = bell_item(make_user("ana@example.org"), "Por la API").id
        other_id = bell_item(make_user()).id
    token = client.post(
        "/api/v1/tokens", json={"email": "ana@example.org", "password": "Lluvia-de-datos-2026"}
    )
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    listing = client.get("/api/v1/notifications?unread=true", headers=headers).get_json()
    assert listing["unread"] == 1 and listing["items"][0]["title"] == "Por la API"
    assert listing["items"][0]["link"] == "/institutions"
    read = client.post(f"/api/v1/notifications/{item_id}/read", headers=headers)
    assert read.status_code == 200 and read.get_json()["read_at"]
    assert client.post(f"/api/v1/notifications/{other_id}/read", headers=headers).status_code == 404
    assert client.post("/api/v1/notifications/read-all", headers=headers).get_json() == {"marked": 0}
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(InAppNotification)).scalar_one() == 2
