"""Calendar feeds: every artefact parsed by icalendar and by vobject (an independent parser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import vobject
from icalendar import Calendar
from sqlalchemy import select

from accounts import services as accounts_services
from core.extensions import db
from core.models import AuditEntry
from core.timeutil import utcnow
from events import feed_services, ical
from events import services as event_services
from events.feed_models import CalendarFeedToken
from events.models import Event, EventStatus
from tests.factories import (
    PASSWORD,
    QueryCounter,
    login,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)

ONLINE_URL = "https://meet.example.org/secreto-xyz"
ICS = "text/calendar; charset=utf-8"


def parse(body: bytes) -> tuple[Calendar, list]:
    """Parse with both libraries; return the icalendar calendar and vobject's VEVENTs."""
    calendar = Calendar.from_ical(body)
    other = vobject.readOne(body.decode("utf-8"))
    vevents = list(getattr(other, "vevent_list", []))
    assert len(vevents) == len(calendar.events)
    for line in body.split(b"\r\n"):
        assert len(line) <= 75, line
    return calendar, vevents


def by_uid(calendar: Calendar) -> dict[str, object]:
    return {str(vevent["UID"]): vevent for vevent in calendar.events}


def uid(event: Event) -> str:
    return f"event-{event.id}@promueve.test"


def hybrid_event(institution, **fields):
    fields.setdefault("format", "hybrid")
    fields.setdefault("online_url", ONLINE_URL)
    return make_event(institution, **fields)


# --- one event ---------------------------------------------------------------------------------


def test_event_ics_has_every_property_in_its_own_zone(app, ctx, client):
    inst = make_institution(
        "imco", name="Instituto Mexicano, para la Competitividad", timezone="America/Tijuana"
    )
    starts = datetime(2030, 7, 10, 17, 0, tzinfo=UTC)  # 10:00 in Tijuana (PDT, UTC-7)
    event = hybrid_event(
        inst, title="Mesa; datos, abiertos", starts_at=starts, ends_at=starts + timedelta(hours=2)
    )
    assert event.timezone == "America/Tijuana"

    response = client.get(f"/events/{event.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ICS
    assert "max-age" in response.headers["Cache-Control"]
    assert response.headers["ETag"].startswith('"')  # strong
    calendar, (vevent2,) = parse(response.data)

    (vevent,) = calendar.events
    assert str(vevent["UID"]) == uid(event)
    assert vevent["SEQUENCE"] == event.sequence == 1
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(vevent["SUMMARY"]) == "Mesa; datos, abiertos"
    start = vevent.decoded("DTSTART")
    assert start == starts and start.tzinfo.key == "America/Tijuana" and start.hour == 10
    assert vevent["DTSTART"].params["TZID"] == "America/Tijuana"
    assert vevent.decoded("DTEND") == starts + timedelta(hours=2)
    assert [tz.tz_name for tz in calendar.timezones] == ["America/Tijuana"]
    assert calendar.get_missing_tzids() == set()
    assert str(vevent["URL"]) == f"http://promueve.test/events/{event.id}"
    location = str(vevent["LOCATION"])
    assert "Eje 1 Norte" in location and "En línea" in location and ONLINE_URL not in location
    organizer = vevent["ORGANIZER"]
    assert str(organizer) == "mailto:no-reply@promueve.localhost"
    assert organizer.params["CN"] == "Instituto Mexicano, para la Competitividad"
    assert vevent.decoded("DTSTAMP") == event.updated_at.replace(microsecond=0)
    assert vevent.decoded("LAST-MODIFIED") == event.updated_at.replace(microsecond=0)
    assert "Un día para trabajar con datos." in str(vevent["DESCRIPTION"])
    assert ONLINE_URL.encode() not in response.data

    # vobject reads the same event, with the zone from the VTIMEZONE.
    assert vevent2.uid.value == uid(event)
    assert vevent2.dtstart.value == starts and vevent2.dtstart.value.utcoffset() == timedelta(hours=-7)
    assert vevent2.summary.value == "Mesa; datos, abiertos"
    assert vevent2.status.value == "CONFIRMED" and vevent2.sequence.value == "1"
    assert vevent2.organizer.params["CN"] == ["Instituto Mexicano, para la Competitividad"]


def test_feed_vevent_equals_the_icalendar_built_one(app, ctx):
    inst = make_institution("q", name='Secretaría "Q"; datos, abiertos')
    long_title = "Mesa de diálogo sobre calidad del aire en la Zona Metropolitana del Valle de México " * 2
    event = hybrid_event(
        inst,
        title=long_title.strip()[:200],
        summary="Línea uno; con, signos \\ y\nlínea dos\r\nlínea tres",
        latitude=19.4326,
        longitude=-99.1332,
        timezone="America/Cancun",
    )
    entry = ical.CalendarEntry.from_event(event)
    for include in (False, True):
        kwargs = {
            "host": "promueve.test",
            "url": "http://promueve.test/events/1",
            "organizer_email": "a@b.mx",
        }
        reference = ical.build_vevent(event, include_online_url=include, **kwargs)
        fast_text = ical.vevent_text(entry, include_online_url=include, **kwargs)
        wrapped = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{fast_text}END:VCALENDAR\r\n"
        (fast,) = Calendar.from_ical(wrapped).events
        reparsed = Calendar.from_ical(
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + reference.to_ical() + b"END:VCALENDAR\r\n"
        ).events[0]
        assert sorted(fast.keys()) == sorted(reparsed.keys())
        for name in reparsed:
            if name == "CATEGORIES":
                assert fast[name].cats == reparsed[name].cats
            else:
                assert fast.decoded(name) == reparsed.decoded(name), name
        assert fast["ORGANIZER"].params["CN"] == reparsed["ORGANIZER"].params["CN"] == inst.name
        assert fast["DTSTART"].params["TZID"] == "America/Cancun"
        assert (ONLINE_URL in str(fast["DESCRIPTION"])) is include


# --- changes -----------------------------------------------------------------------------------


def test_uid_is_stable_and_sequence_bumps_after_a_reschedule(app, ctx, client):
    inst = make_institution("inegi")
    liaison = make_liaison(inst)
    event = make_event(inst)
    first = client.get(f"/events/{event.id}.ics")
    (before,) = parse(first.data)[0].events

    new_start = event.starts_at + timedelta(days=2)
    event_services.reschedule_event(liaison, event, new_start, new_start + timedelta(hours=3))

    second = client.get(f"/events/{event.id}.ics", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    calendar, (vevent2,) = parse(second.data)
    (after,) = calendar.events
    assert str(after["UID"]) == str(before["UID"]) == uid(event)
    assert after["SEQUENCE"] == before["SEQUENCE"] + 1
    assert after.decoded("DTSTART") == new_start
    assert vevent2.sequence.value == str(before["SEQUENCE"] + 1)


def test_a_cancelled_event_stays_in_every_feed_as_cancelled(app, ctx, client):
    inst = make_institution("salud")
    liaison = make_liaison(inst)
    event = make_event(inst)
    kept = make_event(inst, title="Sigue en pie")
    sequence = event.sequence
    event_services.cancel_event(liaison, event, "Sin sede disponible")

    for url in (f"/events/{event.id}.ics", "/events.ics", "/institutions/salud/events.ics"):
        calendar, vevents = parse(client.get(url).data)
        found = by_uid(calendar)[uid(event)]
        assert str(found["STATUS"]) == "CANCELLED" and found["SEQUENCE"] == sequence + 1, url
        assert {v.uid.value: v.status.value for v in vevents}[uid(event)] == "CANCELLED"
    calendar, _ = parse(client.get("/events.ics").data)
    assert str(by_uid(calendar)[uid(kept)]["STATUS"]) == "CONFIRMED"


def test_drafts_are_hidden_except_from_their_managers(app, ctx, client):
    inst = make_institution("sep")
    liaison = make_liaison(inst)
    draft = make_event(inst, publish=False, title="Borrador")
    outsider = make_user()

    assert client.get(f"/events/{draft.id}.ics").status_code == 404
    assert uid(draft).encode() not in client.get("/events.ics").data
    assert uid(draft).encode() not in client.get("/institutions/sep/events.ics").data
    login(client, outsider.email)
    assert client.get(f"/events/{draft.id}.ics").status_code == 404
    client.post("/logout")

    login(client, liaison.email)
    response = client.get(f"/events/{draft.id}.ics")
    assert response.status_code == 200 and "private" in response.headers["Cache-Control"]
    (vevent,) = parse(response.data)[0].events
    assert str(vevent["STATUS"]) == "TENTATIVE"
    assert client.get("/events/999999.ics").status_code == 404


# --- caching -----------------------------------------------------------------------------------


def test_every_feed_answers_304_to_its_etag_and_changes_with_the_data(app, ctx, client):
    inst = make_institution("conagua")
    liaison = make_liaison(inst)
    event = make_event(inst)
    person = make_user()
    event_services.register(person, event)
    raw = feed_services.token_value(feed_services.issue_feed_token(person).salt)
    urls = [
        f"/events/{event.id}.ics",
        "/events.ics",
        "/institutions/conagua/events.ics",
        f"/calendar/{raw}.ics",
    ]

    etags = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        etag = response.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        etags[url] = etag
        repeat = client.get(url, headers={"If-None-Match": etag})
        assert repeat.status_code == 304 and repeat.data == b"", url
        assert repeat.headers["ETag"] == etag and repeat.headers["Cache-Control"]
        assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert "private" in client.get(urls[-1]).headers["Cache-Control"]

    with QueryCounter(db.engine) as counter:
        assert client.get("/events.ics", headers={"If-None-Match": etags["/events.ics"]}).status_code == 304
    assert counter.count <= 2  # the aggregate (and SQLite's BEGIN): nothing rendered

    event_services.update_event(liaison, db.session.get(Event, event.id), {"title": "Nuevo título"})
    for url in urls:
        response = client.get(url, headers={"If-None-Match": etags[url]})
        assert response.status_code == 200 and response.headers["ETag"] != etags[url], url
        assert b"Nuevo t" in response.data


def test_a_new_event_changes_the_feed_etag(app, ctx, client):
    inst = make_institution("adip")
    make_event(inst)
    etag = client.get("/events.ics").headers["ETag"]
    make_event(inst, title="Otra")
    assert client.get("/events.ics", headers={"If-None-Match": etag}).status_code == 200


def test_feeds_take_a_constant_number_of_queries(app, ctx, client):
    inst = make_institution("jalisco")
    make_event(inst)
    with QueryCounter(db.engine) as few:
        client.get("/events.ics")
    for n in range(8):
        make_event(inst, title=f"Evento {n}", kind="dialogue_table", format="online", online_url=ONLINE_URL)
    with QueryCounter(db.engine) as many:
        calendar, _ = parse(client.get("/events.ics").data)
    assert len(calendar.events) == 9
    assert many.count == few.count <= 3  # (SQLite counts its BEGIN) aggregate, rows


# --- filters and privacy -----------------------------------------------------------------------


def test_public_feed_filters_by_kind_and_institution(app, ctx, client):
    inegi, salud = make_institution("inegi"), make_institution("salud")
    datathon = make_event(inegi, kind="datathon")
    table = make_event(inegi, kind="dialogue_table")
    other = make_event(salud, kind="datathon")

    def uids(url: str) -> set[str]:
        response = client.get(url)
        assert response.status_code == 200, url
        return set(by_uid(parse(response.data)[0]))

    assert uids("/events.ics") == {uid(datathon), uid(table), uid(other)}
    assert uids("/events.ics?kind=datathon") == {uid(datathon), uid(other)}
    assert uids("/events.ics?kind=datathon&institution=inegi") == {uid(datathon)}
    assert uids("/events.ics?institution=inegi&institution=salud&kind=dialogue_table") == {uid(table)}
    assert uids("/institutions/salud/events.ics") == {uid(other)}
    assert uids("/events.ics?kind=data_for_development") == set()
    assert client.get("/events.ics?kind=picnic").status_code == 400
    assert client.get("/events.ics?institution=nadie").status_code == 404
    assert client.get("/institutions/nadie/events.ics").status_code == 404
    assert (
        client.get("/events.ics?kind=datathon").headers["ETag"]
        != client.get("/events.ics?kind=dialogue_table").headers["ETag"]
    )


def test_public_feeds_never_carry_the_private_online_url(app, ctx, client):
    inst = make_institution("inai")
    online = make_event(inst, format="online", online_url=ONLINE_URL)
    hybrid = hybrid_event(inst)
    person = make_user()
    event_services.register(person, online)
    login(client, person.email)  # even a confirmed registrant gets the public artefact here
    for url in (
        f"/events/{online.id}.ics",
        f"/events/{hybrid.id}.ics",
        "/events.ics",
        "/institutions/inai/events.ics",
    ):
        body = client.get(url).data
        assert ONLINE_URL.encode() not in body, url
        for vevent in parse(body)[0].events:
            assert "En línea" in str(vevent["LOCATION"])


# --- the private feed --------------------------------------------------------------------------


def test_private_feed_lists_my_registrations_and_says_which_are_confirmed(app, ctx, client):
    inst = make_institution("inegi", timezone="America/Tijuana")
    person = make_user()
    someone = make_user()
    confirmed = hybrid_event(inst, title="Confirmada")
    full = make_event(inst, title="Llena", capacity=1, format="online", online_url=ONLINE_URL + "-2")
    dropped = make_event(inst, title="Ya no voy")
    not_mine = make_event(inst, title="Ajena")
    event_services.register(someone, full)
    mine = event_services.register(person, confirmed)
    assert event_services.register(person, full).status == "waitlisted"
    event_services.cancel_registration(person, event_services.register(person, dropped))
    event_services.register(someone, not_mine)

    login(client, person.email)
    page = client.get("/profile/calendar")
    assert page.status_code == 200 and b"webcal://promueve.test/calendar/" not in page.data
    assert client.post("/profile/calendar").status_code == 302
    page = client.get("/profile/calendar").get_data(as_text=True)
    token = db.session.execute(select(CalendarFeedToken)).scalar_one()
    raw = feed_services.token_value(token.salt)
    assert f"webcal://promueve.test/calendar/{raw}.ics" in page
    assert f"http://promueve.test/calendar/{raw}.ics" in page
    assert raw not in token.token_hash and token.token_hash == feed_services.token_digest(raw)
    client.post("/logout")

    response = client.get(f"/calendar/{raw}.ics")  # no session: calendar apps poll anonymously
    assert response.status_code == 200 and response.headers["Content-Type"] == ICS
    calendar, vevents = parse(response.data)
    events = by_uid(calendar)
    assert set(events) == {uid(confirmed), uid(full)}
    assert f"confirmado (código {mine.code})" in str(events[uid(confirmed)]["DESCRIPTION"])
    assert ONLINE_URL in str(events[uid(confirmed)]["DESCRIPTION"])
    assert ONLINE_URL in str(events[uid(confirmed)]["LOCATION"])
    assert "lista de espera" in str(events[uid(full)]["DESCRIPTION"])
    assert str(events[uid(full)]["STATUS"]) == "TENTATIVE"  # waitlisted: not a seat yet
    assert str(events[uid(confirmed)]["STATUS"]) == "CONFIRMED"
    assert events[uid(full)]["CATEGORIES"].cats == ["Datatón"]  # the kind in words
    assert ONLINE_URL + "-2" not in response.get_data(as_text=True)  # waitlisted: no link yet
    assert [tz.tz_name for tz in calendar.timezones] == ["America/Tijuana"]
    assert {v.uid.value for v in vevents} == set(events)
    assert db.session.get(CalendarFeedToken, token.id).last_used_at is not None

    # Someone cancels: the waitlisted place is promoted and the feed (and its ETag) follow.
    etag = response.headers["ETag"]
    other = event_services.registration_for(someone, db.session.get(Event, full.id))
    event_services.cancel_registration(someone, other)
    response = client.get(f"/calendar/{raw}.ics", headers={"If-None-Match": etag})
    assert response.status_code == 200
    events = by_uid(parse(response.data)[0])
    assert "confirmado" in str(events[uid(full)]["DESCRIPTION"])
    assert str(events[uid(full)]["STATUS"]) == "CONFIRMED"
    promoted = event_services.registration_for(person, db.session.get(Event, full.id)).promoted_at
    assert events[uid(full)].decoded("LAST-MODIFIED") == promoted.replace(microsecond=0)
    assert ONLINE_URL + "-2" in str(events[uid(full)]["DESCRIPTION"])


def test_private_feed_is_in_the_owners_language(app, ctx, client):
    inst = make_institution("inegi")
    person = make_user()
    person.locale = "en"
    db.session.commit()
    event_services.register(person, make_event(inst))
    raw = feed_services.token_value(feed_services.issue_feed_token(person).salt)
    calendar, _ = parse(client.get(f"/calendar/{raw}.ics").data)
    assert str(calendar["X-WR-CALNAME"]) == "My events on Promueve"
    (vevent,) = calendar.events
    assert vevent["CATEGORIES"].cats == ["Datathon"]


def test_revoked_regenerated_unknown_and_erased_links_stop_working(app, ctx, client):
    person = make_user()
    login(client, person.email)
    client.post("/profile/calendar")
    first = feed_services.token_value(feed_services.active_feed_token(person).salt)
    assert client.get(f"/calendar/{first}.ics").status_code == 200

    client.post("/profile/calendar")  # regenerate
    second = feed_services.token_value(feed_services.active_feed_token(person).salt)
    assert second != first
    assert client.get(f"/calendar/{first}.ics").status_code == 404
    assert client.get(f"/calendar/{second}.ics").status_code == 200

    client.post("/profile/calendar/revoke")
    assert feed_services.active_feed_token(person) is None
    assert client.get(f"/calendar/{second}.ics").status_code == 404
    assert client.get("/calendar/cal_nope.ics").status_code == 404
    assert client.get("/calendar/" + "x" * 300 + ".ics").status_code == 404
    actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions.count("calendar_feed.create") == 2 and actions.count("calendar_feed.revoke") == 2

    client.post("/profile/calendar")
    third = feed_services.token_value(feed_services.active_feed_token(person).salt)
    export = accounts_services.export_personal_data(person)
    assert len(export["calendar_feeds"]) == 3 and third not in str(export)
    accounts_services.delete_account(person, PASSWORD)
    assert client.get(f"/calendar/{third}.ics").status_code == 404


def test_one_active_link_per_person_is_a_database_rule(app, ctx):
    from sqlalchemy.exc import IntegrityError

    person = make_user()
    feed_services.issue_feed_token(person)
    db.session.add(CalendarFeedToken(user_id=person.id, salt="s", token_hash="h" * 64))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_changed_secret_key_asks_to_regenerate_instead_of_showing_a_wrong_link(app, ctx, client):
    person = make_user()
    feed_services.issue_feed_token(person)
    app.config["SECRET_KEY"] = "another-secret-key-for-this-test"
    login(client, person.email)
    page = client.get("/profile/calendar").get_data(as_text=True)
    assert "webcal://promueve.test/calendar/" not in page and "Genera uno nuevo" in page


def test_profile_my_events_and_the_event_page_link_to_the_calendars(app, ctx, client):
    event = make_event(make_institution("inegi"))
    person = make_user()
    login(client, person.email)
    assert "/profile/calendar" in client.get("/profile").get_data(as_text=True)
    assert 'href="/profile/calendar"' in client.get("/events/mine").get_data(as_text=True)
    client.post("/profile/calendar")
    raw = feed_services.token_value(feed_services.active_feed_token(person).salt)
    assert f'href="webcal://promueve.test/calendar/{raw}.ics"' in client.get("/events/mine").get_data(
        as_text=True
    )
    assert f'href="/events/{event.id}.ics"' in client.get(f"/events/{event.id}").get_data(as_text=True)


def test_the_feed_of_many_events_is_built_without_icalendar_objects(app, ctx):
    """1,000 entries go through the one-pass builder and parse back whole (timing is in bench/)."""
    now = utcnow().replace(microsecond=0)
    entries = [
        ical.CalendarEntry(
            id=n,
            institution_id=1,
            kind="datathon",
            status=EventStatus.published if n % 7 else "cancelled",
            format="hybrid",
            title=f"Evento {n}, ñandú",
            summary="Resumen; corto",
            venue="Sala",
            address="Calle 1",
            state="Jalisco",
            online_url=ONLINE_URL,
            latitude=None,
            longitude=None,
            starts_at=now + timedelta(days=n),
            ends_at=now + timedelta(days=n, hours=2),
            timezone=("America/Tijuana", "America/Mexico_City", "UTC")[n % 3],
            sequence=n % 4,
            created_at=now,
            updated_at=now,
            organizer_name="INEGI",
        )
        for n in range(1, 1001)
    ]
    body = ical.feed_ics(
        entries,
        host="promueve.test",
        url_for_entry=lambda e: f"http://promueve.test/events/{e.id}",
        organizer_email="a@b.mx",
        name="Todas",
    )
    calendar, vevents = parse(body)
    assert len(calendar.events) == 1000 and ONLINE_URL.encode() not in body
    assert {tz.tz_name for tz in calendar.timezones} == {"America/Tijuana", "America/Mexico_City"}
    assert calendar.get_missing_tzids() == set()
    cancelled = sum(1 for v in vevents if v.status.value == "CANCELLED")
    assert cancelled == len(range(7, 1001, 7))


def test_the_api_shows_creates_and_revokes_my_link(app, client):
    # No `ctx`: each request needs its own app context (the API caches the bearer's user in `g`).
    with app.app_context():
        email = make_user().email
    token = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me/calendar-feed").status_code == 401
    assert client.get("/api/v1/me/calendar-feed", headers=headers).get_json()["active"] is False
    assert client.delete("/api/v1/me/calendar-feed", headers=headers).status_code == 404

    created = client.post("/api/v1/me/calendar-feed", headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert body["active"] and body["webcal_url"].startswith("webcal://promueve.test/calendar/cal_")
    assert body["url"] == "http://" + body["webcal_url"].removeprefix("webcal://")
    assert client.get("/api/v1/me/calendar-feed", headers=headers).get_json()["url"] == body["url"]
    path = body["url"].removeprefix("http://promueve.test")
    assert client.get(path).status_code == 200

    renewed = client.post("/api/v1/me/calendar-feed", headers=headers).get_json()
    assert renewed["url"] != body["url"] and client.get(path).status_code == 404
    assert client.delete("/api/v1/me/calendar-feed", headers=headers).status_code == 204
    assert client.get(renewed["url"].removeprefix("http://promueve.test")).status_code == 404
    assert "/api/v1/me/calendar-feed" in client.get("/api/v1/openapi.json").get_json()["paths"]
