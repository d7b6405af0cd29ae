"""The admin outbox's search box: by recipient, subject or kind, with the status filter,
paginated, through a GET form; odd input is searched for literally, never a 500."""

from __future__ import annotations

import re
from html import unescape

import pytest

from core.extensions import db
from notifications import services
from tests.factories import login, make_user


def message(user, key, *, subject, kind="account.verify", status=None):
    row = services.notify(
        to=user,
        kind=kind,
        subject=subject,
        template="accounts/email/verify",
        dedupe_key=key,
        context={"verify_url": "http://promueve.test/verify/x", "hours": 48},
    )
    if status:
        row.status = status
    db.session.commit()
    return row


@pytest.fixture
def admin_client(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client, "admin@example.org")
    return client


def listed(client, query_string: str) -> tuple[list[str], str]:
    """The recipients of the rows the outbox page lists for `query_string`, and the page."""
    response = client.get(f"/admin/outbox?{query_string}")
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    table = page.split("<tbody>")[-1] if "<tbody>" in page else ""
    return re.findall(r"<td>([^<@]+@[^<]+)</td>", table), page


def test_search_finds_by_recipient_subject_and_kind(app, admin_client):
    with app.app_context():
        ana = make_user("ana.lopez@example.org", name="Ana López")
        beto = make_user("beto@example.org", name="Alberto Ruiz")
        message(ana, "a1", subject="Confirma tu correo")
        message(beto, "b1", subject="Tu registro al Datatón de movilidad", kind="events.confirmed")
        message(beto, "b2", subject="Recordatorio: Datatón", kind="events.reminder", status="failed")

    assert listed(admin_client, "q=ana.lopez")[0] == ["ana.lopez@example.org"]
    assert listed(admin_client, "q=RUIZ")[0] == ["beto@example.org", "beto@example.org"]  # by name
    assert listed(admin_client, "q=movilidad")[0] == ["beto@example.org"]  # by subject
    assert listed(admin_client, "q=events.rem")[0] == ["beto@example.org"]  # by kind
    assert listed(admin_client, "q=datatón+registro")[0] == ["beto@example.org"]  # every word
    assert listed(admin_client, "q=datatón&status=failed")[0] == ["beto@example.org"]
    assert listed(admin_client, "q=datatón&status=sent")[0] == []
    recipients, page = listed(admin_client, "q=nadie")
    assert recipients == [] and "No hay correos con este filtro." in page

    # The box keeps what was searched; the page says how many matched.
    _recipients, page = listed(admin_client, "q=Datat%C3%B3n")
    assert 'id="q" value="Datatón"' in page, re.findall(r"<input[^>]*id=.q.[^>]*>", page)
    assert "2 correos con este filtro." in page


def test_search_words_are_literal_and_odd_input_is_no_error(app, admin_client):
    with app.app_context():
        ana, other = make_user("ana_1@example.org"), make_user("anax1@example.org")
        message(ana, "a1", subject="100% listo")
        message(other, "x1", subject="Otro asunto")

    assert listed(admin_client, "q=%25")[0] == ["ana_1@example.org"]  # % is a character, not "anything"
    assert listed(admin_client, "q=ana_1")[0] == ["ana_1@example.org"]  # so is _
    # A NUL byte is refused app-wide (400, tests/core/test_hostile_input.py).
    assert admin_client.get("/admin/outbox?q=%00").status_code == 400
    odd_inputs = ("q=" + "x" * 5000, "q=a%0Ab", "q=%5C", "q=%27%3B+DROP+TABLE+x", "page=-3&q=")
    for odd in odd_inputs:
        response = admin_client.get(f"/admin/outbox?{odd}")
        assert response.status_code == 200, odd


def test_search_is_paginated_and_actions_come_back_to_it(app, admin_client, monkeypatch):
    from notifications import views

    monkeypatch.setattr(views, "OUTBOX_PER_PAGE", 2)
    with app.app_context():
        ana = make_user("ana@example.org")
        for n in range(5):
            message(ana, f"a{n}", subject=f"Aviso {n}", status="failed")
        message(make_user("otra@example.org"), "o", subject="Aviso de otra persona")

    recipients, page = listed(admin_client, "q=ana%40example")
    assert recipients == ["ana@example.org"] * 2
    assert "Página 1 de 3" in page
    next_link = unescape(re.search(r'href="([^"]+)" rel="next"', page).group(1))
    assert "q=ana%40example" in next_link or "q=ana@example" in next_link
    assert listed(admin_client, next_link.split("?", 1)[1])[0] == ["ana@example.org"] * 2

    # Retrying a row from the search result returns to the same search.
    row_id = int(re.search(r"/admin/outbox/(\d+)/retry", page).group(1))
    response = admin_client.post(f"/admin/outbox/{row_id}/retry", data={"q": "ana@example", "status": ""})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/outbox?q=ana@example")


def test_only_admins_search_the_outbox(app, client):
    with app.app_context():
        make_user("ana@example.org")
    login(client, "ana@example.org")
    assert client.get("/admin/outbox?q=ana").status_code == 403
