"""Health check, language selection, error pages, security headers, CSRF."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from app import create_app
from core.extensions import db
from tests.conftest import ROOT, TEST_CONFIG
from tests.factories import login, make_user


def test_healthz_ok(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_503_names_redis_when_it_is_unreachable(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("promueve_redis", None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["redis"].startswith("error") and response.json["database"] == "ok"
    assert response.json["down"] == ["redis"]


def test_spanish_is_the_default_and_accept_language_picks_english(app, client):
    spanish = client.get("/")
    assert 'lang="es-MX"' in spanish.get_data(as_text=True)
    assert "Aviso de privacidad" in spanish.get_data(as_text=True)
    english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert 'lang="en"' in english.get_data(as_text=True)
    assert "Privacy notice" in english.get_data(as_text=True)


def test_language_switch_is_remembered_and_profile_wins(app, client):
    client.post("/language", data={"locale": "en", "next": "/institutions"})
    assert "Institutions" in client.get("/institutions").get_data(as_text=True)
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    client.post("/language", data={"locale": "es_MX"})
    fresh = app.test_client()
    login(fresh, "luis@example.org")
    page = fresh.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="es-MX"' in page  # the profile's choice beats the browser's


def test_language_switch_refuses_offsite_next(app, client):
    response = client.post("/language", data={"locale": "en", "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


def test_english_catalogue_is_complete():
    with open(ROOT / "translations/en/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle)
    missing = [message.id for message in catalogue if message.id and not message.string]
    fuzzy = [message.id for message in catalogue if message.id and message.fuzzy]
    assert not missing, f"untranslated: {missing[:5]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:5]}"


@pytest.mark.parametrize("path", ["/", "/login", "/does-not-exist"])
def test_security_headers(app, client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_session_cookie_flags(app, client):
    with app.app_context():
        make_user("luis@example.org")
    response = login(client, "luis@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.config["MAX_CONTENT_LENGTH"]


def test_error_pages_in_the_users_language(app, client):
    response = client.get("/nowhere", headers={"Accept-Language": "en"})
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)
    assert "Página no encontrada" in client.get("/nowhere").get_data(as_text=True)


def test_unexpected_error_gives_a_500_page(app, client, monkeypatch):
    from core import pages

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pages, "render_template", explode)
    response = client.get("/privacy")
    assert response.status_code == 500
    assert "Algo salió mal" in response.get_data(as_text=True)


def test_too_large_upload_is_413_page(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/login", data={"email": "x" * 5000})
    assert response.status_code == 413


def test_forms_need_a_csrf_token(app):
    csrf_app = create_app({**TEST_CONFIG, "WTF_CSRF_ENABLED": True})
    client = csrf_app.test_client()
    response = client.post("/login", data={"email": "a@example.org", "password": "Lluvia-de-datos-2026"})
    assert response.status_code == 400
    assert "formulario caducó" in response.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    ok = client.post("/login", data={"csrf_token": token, "email": "a@example.org", "password": "x" * 12})
    assert ok.status_code == 422
    # The token-authenticated API needs no CSRF token.
    assert client.post("/api/v1/tokens", json={"email": "a@example.org", "password": "x"}).status_code == 401
    with csrf_app.app_context():
        db.session.remove()
        db.engine.dispose()  # a second engine must not outlive the test (SQLite file reset)


def test_every_user_facing_string_is_in_the_english_catalogue(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [
            str(pybabel),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-o",
            str(pot),
            "--ignore-dirs=.* _* tests",
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with open(pot, "rb") as handle:
        source = {message.id for message in read_po(handle) if message.id}
    with open(ROOT / "translations/en/LC_MESSAGES/messages.po", "rb") as handle:
        translated = {message.id for message in read_po(handle) if message.id and message.string}
    missing = sorted(source - translated, key=str)
    assert not missing, f"run `make extract-messages` and translate: {missing[:5]}"


def test_times_are_shown_in_the_zone_and_language_asked_for(app):
    from datetime import UTC, datetime

    from flask_babel import force_locale

    from core.i18n import format_in_zone

    moment = datetime(2026, 3, 5, 18, 30, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("es_MX"):
            spanish = format_in_zone(moment, "America/Mexico_City")
        with force_locale("en"):
            english = format_in_zone(moment, "America/Tijuana")
    assert "12:30" in spanish and "mar" in spanish and "CST" in spanish
    assert "10:30" in english and "Mar" in english and "PST" in english
    # To the minute: no seconds on a page.
    assert "12:30:00" not in spanish and "10:30:00" not in english
    assert spanish.startswith("5 mar 2026, 12:30") and english.startswith("Mar 5, 2026, 10:30")
