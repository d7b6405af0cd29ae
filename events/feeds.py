"""Calendar feeds (.ics) of events, and the page where a person manages their private feed.

Each feed answers with a strong ETag computed from an aggregate query (count, id and
SEQUENCE sums, latest update) before anything is rendered, so a repeat poll costs one small
query and a 304. Rendering reads plain rows (one query per feed, no ORM objects) and hands
them to the pure functions of `events.ical`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC
from email.utils import parseaddr
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.urls import MAX_ID, external_url
from events import feed_services, ical
from events.forms import ConfirmForm
from events.models import Event, EventKind, Registration, RegistrationStatus, public_event_condition
from events.permissions import may_view
from events.services import institution_events_condition

bp = Blueprint("calendars", __name__, template_folder="templates")

ICS_MIMETYPE = "text/calendar; charset=utf-8"
PUBLIC_CACHE = "public, max-age=300"
PRIVATE_CACHE = "private, max-age=300"
# Part of every ETag: change it whenever the .ics output changes for the same data.
FEED_FORMAT = "feeds-1"
ACTIVE_REGISTRATION = (RegistrationStatus.confirmed, RegistrationStatus.waitlisted)


# --- queries ----------------------------------------------------------------------------------


def _entry_select(*extra: Any):
    columns = [getattr(Event, name) for name in ical.CALENDAR_ENTRY_FIELDS]
    return select(*columns, Institution.name.label("organizer_name"), *extra).join(
        Institution, Institution.id == Event.institution_id
    )


def _entries(conditions: Sequence[ColumnElement[bool]]) -> list[ical.CalendarEntry]:
    query = _entry_select().where(*conditions).order_by(Event.starts_at, Event.id)
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return [ical.CalendarEntry(*row) for row in db.session.execute(query)]
    # psycopg already hands back what an entry holds (aware datetimes, text, numbers); read
    # through the driver's cursor, 1,000 rows skip SQLAlchemy's rows and its per-value type
    # conversions (enums, UTC datetimes), a few ms of CPU. Same statement, same transaction.
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), compiled.params)
        return [ical.CalendarEntry(*row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _aggregate(conditions: Sequence[ColumnElement[bool]]) -> tuple[Any, ...]:
    """What changes whenever the feed's output changes: membership, sequences, last update."""
    query = (
        select(
            func.count(Event.id),
            func.coalesce(func.sum(Event.id), 0),
            func.coalesce(func.sum(Event.sequence), 0),
            func.max(Event.updated_at),
        )
        .select_from(Event)
        .join(Institution, Institution.id == Event.institution_id)
        .where(*conditions)
    )
    return tuple(db.session.execute(query).one())


def _aggregate_of(entries: Sequence[ical.CalendarEntry]) -> tuple[Any, ...]:
    """What `_aggregate` answers, from entries already read (the same values, so the same ETag)."""
    stamps = [entry.updated_at for entry in entries if entry.updated_at is not None]
    return (
        len(entries),
        sum(entry.id for entry in entries),
        sum(entry.sequence for entry in entries),
        max(stamps).astimezone(UTC) if stamps else None,
    )


def _public_conditions() -> list[ColumnElement[bool]]:
    # Cancelled events stay, marked STATUS:CANCELLED, so subscribed calendars drop them; what was
    # never published (a draft, or a draft cancelled before that was refused) never appears.
    return [public_event_condition()]


# --- responses --------------------------------------------------------------------------------


def _etag(*parts: Any) -> str:
    config = current_app.config
    text = "|".join(str(part) for part in (FEED_FORMAT, config["BASE_URL"], config["MAIL_FROM"], *parts))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _not_modified(etag: str, cache_control: str) -> Response | None:
    if not request.if_none_match.contains_weak(etag):
        return None
    response = Response(status=304)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


def _ics_response(body: bytes, etag: str, cache_control: str, filename: str | None = None) -> Response:
    response = Response(body, content_type=ICS_MIMETYPE)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _conditional_feed(
    etag: str, cache_control: str, render: Callable[[], bytes], filename: str | None = None
) -> Response:
    """304 when the client has this version; otherwise render and answer 200."""
    return _not_modified(etag, cache_control) or _ics_response(render(), etag, cache_control, filename)


def _public_events_feed(
    etag_parts: Sequence[Any], conditions: Sequence[ColumnElement[bool]], name: Callable[[], str]
) -> Response:
    """A public feed of many events. With If-None-Match, the aggregate decides a 304 before
    anything is read; without, the entries are read once and the ETag is computed from them
    (one query instead of two; nothing is kept between requests)."""
    if request.if_none_match:
        etag = _etag(*etag_parts, *_aggregate(conditions))
        not_modified = _not_modified(etag, PUBLIC_CACHE)
        if not_modified is not None:
            return not_modified
        entries = _entries(conditions)
    else:
        entries = _entries(conditions)
        etag = _etag(*etag_parts, *_aggregate_of(entries))
    with _default_locale():
        body = _public_feed(entries, name())
    return _ics_response(body, etag, PUBLIC_CACHE)


def _organizer_email() -> str:
    return parseaddr(current_app.config["MAIL_FROM"])[1] or "no-reply@promueve.localhost"


def _event_url_builder() -> Callable[[ical.CalendarEntry], str]:
    # One URL build per feed, not per event: the id is the only part that varies.
    head, _sep, tail = external_url("events.detail", event_id=MAX_ID).rpartition(str(MAX_ID))
    return lambda entry: f"{head}{entry.id}{tail}"


def kind_label(kind: str) -> str:
    """The kind of an event in words, in the current language (iCal CATEGORIES)."""
    from events.services import KIND_LABELS

    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else str(kind)


def _public_feed(entries: list[ical.CalendarEntry], name: str) -> bytes:
    return ical.feed_ics(
        entries,
        host=ical.host_of(current_app.config["BASE_URL"]),
        url_for_entry=_event_url_builder(),
        organizer_email=_organizer_email(),
        name=name,
        category_for=kind_label,
    )


def _default_locale():
    # Calendar apps poll without a language; public feeds read the same for everyone.
    return force_locale(current_app.config["DEFAULT_LOCALE"])


# --- public feeds -----------------------------------------------------------------------------


@bp.get("/events/<id:event_id>.ics")
def event_ics(event_id: int):
    """One event as an .ics file (never published: only for the people who manage it)."""
    row = db.session.execute(_entry_select(Event.published_at).where(Event.id == event_id)).first()
    if row is None:
        abort(404)
    entry = ical.CalendarEntry(*row[:-1])
    cache_control = PUBLIC_CACHE
    if row.published_at is None:
        if not may_view(current_user, row):
            abort(404)
        cache_control = "private, no-cache"
    etag = _etag("event", *row)

    def render() -> bytes:
        with _default_locale():
            return _public_feed([entry], entry.title)

    return _conditional_feed(etag, cache_control, render, filename=f"actividad-{entry.id}.ics")


@bp.get("/institutions/<slug>/events.ics")
def institution_ics(slug: str):
    """The public events (published, cancelled, completed) an institution hosts or has accepted
    to co-host."""
    institution = db.session.execute(
        select(Institution.id, Institution.name).where(Institution.slug == slug)
    ).first()
    if institution is None:
        abort(404)
    conditions = [*_public_conditions(), institution_events_condition([institution.id])]
    return _public_events_feed(
        ("institution", institution.id, institution.name),
        conditions,
        lambda: _("Actividades de %(name)s", name=institution.name),
    )


@bp.get("/events.ics")
def public_ics():
    """Every public event; `?kind=` and `?institution=` (slug) filter, and may repeat."""
    kinds = sorted(set(request.args.getlist("kind")))
    slugs = sorted(set(request.args.getlist("institution")))
    if any(kind not in EventKind.__members__ for kind in kinds):
        abort(400)
    conditions = _public_conditions()
    if kinds:
        conditions.append(Event.kind.in_(kinds))
    if slugs:
        known = set(db.session.execute(select(Institution.slug).where(Institution.slug.in_(slugs))).scalars())
        if known != set(slugs):
            abort(404)
        conditions.append(
            institution_events_condition(select(Institution.id).where(Institution.slug.in_(slugs)))
        )
    return _public_events_feed(
        ("all", ",".join(kinds), ",".join(slugs)), conditions, lambda: _("Actividades de Promueve")
    )


# --- the private feed -------------------------------------------------------------------------


def _private_conditions(user: User) -> list[ColumnElement[bool]]:
    return [
        Registration.user_id == user.id,
        Registration.status.in_(ACTIVE_REGISTRATION),
        public_event_condition(),
    ]


def _private_aggregate(user: User) -> tuple[Any, ...]:
    query = (
        select(
            func.count(Registration.id),
            func.coalesce(func.sum(Registration.id), 0),
            func.coalesce(
                func.sum(case((Registration.status == RegistrationStatus.confirmed, 1), else_=0)), 0
            ),
            func.coalesce(func.sum(Event.sequence), 0),
            func.max(Event.updated_at),
        )
        .select_from(Registration)
        .join(Event, Event.id == Registration.event_id)
        .where(*_private_conditions(user))
    )
    return tuple(db.session.execute(query).one())


def _private_body(user: User) -> bytes:
    query = (
        _entry_select(Registration.status, Registration.code, Registration.promoted_at)
        .join(Registration, Registration.event_id == Event.id)
        .where(*_private_conditions(user))
        .order_by(Event.starts_at, Event.id)
    )
    entries: list[ical.CalendarEntry] = []
    mine: dict[int, tuple[str, str]] = {}
    width = len(ical.CALENDAR_ENTRY_FIELDS) + 1
    for row in db.session.execute(query):
        entry = ical.CalendarEntry(*row[:width])
        status, code, promoted_at = row[width:]
        if promoted_at is not None and (entry.updated_at is None or promoted_at > entry.updated_at):
            # Promotion from the waitlist changes this person's copy (text, online link).
            entry = entry._replace(updated_at=promoted_at)
        entries.append(entry)
        mine[entry.id] = (status, code)
    with force_locale(user.locale or current_app.config["DEFAULT_LOCALE"]):
        waitlisted = _("Estás en la lista de espera: te avisaremos por correo si se libera un lugar.")

        def note(entry: ical.CalendarEntry) -> str:
            status, code = mine[entry.id]
            if status == RegistrationStatus.confirmed:
                return _("Tu lugar está confirmado (código %(code)s).", code=code)
            return waitlisted

        return ical.feed_ics(
            entries,
            host=ical.host_of(current_app.config["BASE_URL"]),
            url_for_entry=_event_url_builder(),
            organizer_email=_organizer_email(),
            name=_("Mis actividades en Promueve"),
            # The online link is for confirmed people only, as on the event page.
            include_online_url=lambda entry: mine[entry.id][0] == RegistrationStatus.confirmed,
            note_for=note,
            category_for=kind_label,
            # A waitlisted seat is not a confirmed one: calendar apps show it as tentative.
            tentative_for=lambda entry: mine[entry.id][0] == RegistrationStatus.waitlisted,
        )


@bp.get("/calendar/<token>.ics")
def private_feed(token: str):
    """The events a person registered for (confirmed or waitlisted), by their secret link."""
    user = feed_services.feed_owner(token)
    if user is None:
        abort(404)
    etag = _etag("private", user.id, user.locale, *_private_aggregate(user))
    return _conditional_feed(etag, PRIVATE_CACHE, lambda: _private_body(user))


# --- managing the private feed ------------------------------------------------------------------


def _feed_links(user: User) -> dict[str, Any]:
    token = feed_services.active_feed_token(user)
    raw = feed_services.shown_token(token) if token is not None else None
    return {
        "token": token,
        "webcal_url": feed_services.webcal_url(raw) if raw else None,
        "https_url": feed_services.feed_url(raw) if raw else None,
    }


@bp.app_template_global()
def my_calendar_feed_url() -> str | None:
    """The signed-in person's webcal:// link, when they have one (for "my events")."""
    if not getattr(current_user, "is_authenticated", False):
        return None
    return _feed_links(current_user)["webcal_url"]


@bp.get("/profile/calendar")
@login_required
def subscription():
    """See, create, regenerate or turn off my private calendar link."""
    return render_template(
        "events/calendar_subscription.html",
        form=ConfirmForm(),
        public_webcal_url="webcal://" + external_url("calendars.public_ics").split("://", 1)[1],
        public_url=external_url("calendars.public_ics"),
        **_feed_links(current_user),
    )


@bp.post("/profile/calendar")
@login_required
def issue():
    """Create my link, or replace it with a new one (the old one stops working)."""
    if ConfirmForm().validate_on_submit():
        had_one = feed_services.active_feed_token(current_user) is not None
        try:
            feed_services.issue_feed_token(current_user)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(
                _("Generamos un enlace nuevo; el anterior ya no funciona.")
                if had_one
                else _("Listo: suscríbete a tu calendario con el enlace de abajo."),
                "success",
            )
    return redirect(url_for("calendars.subscription"))


@bp.post("/profile/calendar/revoke")
@login_required
def revoke():
    """Turn my link off: calendars subscribed to it stop receiving my events."""
    if ConfirmForm().validate_on_submit():
        if feed_services.revoke_feed_token(current_user):
            flash(_("Desactivamos tu enlace de calendario."), "success")
        else:
            flash(_("No tenías un enlace de calendario activo."), "info")
    return redirect(url_for("calendars.subscription"))
