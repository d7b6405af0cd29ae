"""JSON API of events, registrations, check-in, outcomes and stories (thin: services work)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.choices import MEXICAN_STATES, Sector
from core.exceptions import DomainError, ValidationErrors
from core.extensions import db
from core.images import ALT_MAX_LENGTH, accepts_image_uploads
from core.models import Institution
from core.permissions import can
from core.timeutil import to_zone
from core.validation import SingleLineText
from events import services
from events.models import (
    Commitment,
    CommitmentStatus,
    ConsentStatus,
    DatasetRelation,
    Event,
    EventFormat,
    EventKind,
    QuestionKind,
    Registration,
    RegistrationStatus,
    SuccessStory,
)
from events.permissions import may_view

blp = ApiBlueprint(
    "events_api",
    __name__,
    description="Events (dialogue tables, datathons, data-for-development), registration, "
    "check-in, outcomes, commitments and success stories. Times are ISO 8601 with offset; "
    "a time without offset is read in the event's zone.",
)
SECURED = [{"bearerAuth": []}]


# --- schemas --------------------------------------------------------------------------------


class DatasetSchema(ma.Schema):
    title = ma.fields.String(load_default="", validate=[SingleLineText(), ma.validate.Length(max=300)])
    url = ma.fields.Url(
        required=True, validate=[SingleLineText(), ma.validate.Length(max=500)], schemes={"http", "https"}
    )


class AgendaItemInSchema(ma.Schema):
    time = ma.fields.String(
        validate=[SingleLineText(), ma.validate.Length(max=40)],
        metadata={"description": "HH:MM on the event's first day (its zone) or an ISO 8601 datetime."},
    )
    starts_at = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=40)])
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=300)])
    speaker = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=200)])


class QuestionInSchema(ma.Schema):
    kind = ma.fields.String(
        load_default="short_text", validate=ma.validate.OneOf([k.value for k in QuestionKind])
    )
    prompt = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=300)])
    choices = ma.fields.List(
        ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=120)]),
        validate=ma.validate.Length(max=20),
    )
    required = ma.fields.Boolean(load_default=False)


def _sector_seats_field() -> ma.fields.Dict:
    return ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf([s.value for s in Sector])),
        values=ma.fields.Integer(validate=ma.validate.Range(min=0, max=100000)),
        metadata={"description": "Seats reserved per sector (dialogue tables only)."},
    )


class EventInSchema(ma.Schema):
    """Create/patch body (API names of the public contract)."""

    institution = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(max=64)])
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in EventKind]))
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    summary = ma.fields.String(validate=ma.validate.Length(max=500))
    description = ma.fields.String(validate=ma.validate.Length(max=20000))
    topics = ma.fields.List(
        ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=60)]),
        validate=ma.validate.Length(max=12),
    )
    format = ma.fields.String(required=True, validate=ma.validate.OneOf([f.value for f in EventFormat]))
    venue = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=200)])
    address = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=500)])
    state = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(MEXICAN_STATES))
    latitude = ma.fields.Float(allow_none=True, validate=ma.validate.Range(min=-90, max=90))
    longitude = ma.fields.Float(allow_none=True, validate=ma.validate.Range(min=-180, max=180))
    online_url = ma.fields.Url(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=500)], schemes={"http", "https"}
    )
    starts_at = ma.fields.DateTime(required=True)
    ends_at = ma.fields.DateTime(required=True)
    timezone = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=64)])
    capacity = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=1_000_000))
    waitlist = ma.fields.Boolean()
    registration_opens_at = ma.fields.DateTime(allow_none=True)
    registration_closes_at = ma.fields.DateTime(allow_none=True)
    reminder_offsets_minutes = ma.fields.List(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=services.MAX_REMINDER_MINUTES)),
        validate=ma.validate.Length(max=5),
    )
    sector_seats = _sector_seats_field()
    academic_partner = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=200)]
    )
    agenda = ma.fields.List(ma.fields.Nested(AgendaItemInSchema), validate=ma.validate.Length(max=60))
    datasets = ma.fields.List(ma.fields.Nested(DatasetSchema), validate=ma.validate.Length(max=30))
    cohosts = ma.fields.List(
        ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=64)]),
        validate=ma.validate.Length(max=20),
    )
    questions = ma.fields.List(ma.fields.Nested(QuestionInSchema), validate=ma.validate.Length(max=10))

    @ma.validates_schema(skip_on_field_errors=False, pass_original=True)
    def _rules_too(self, data, original, partial=None, **kwargs):
        """When some fields are refused here, also name what the services would refuse in the
        others (dates in order, a venue for an in-person event…): one 422 names every bad field."""
        if not isinstance(original, dict):
            return
        refused = {name for name in original if name in self.fields and name not in data}
        if not partial:
            required = {name for name, field in self.fields.items() if field.required}
            refused |= required - set(original)
        if not refused:
            return  # all well-formed: the service itself reports every rule at once
        errors = _service_checks(data, partial=bool(partial))
        others = {name: [str(message)] for name, message in errors.items() if name not in refused}
        if others:
            raise ma.ValidationError(others)


def _service_checks(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """What the services would refuse in `data`, for a caller allowed to write it; else nothing."""
    from flask import request

    user = api_user()
    fields = {key: value for key, value in data.items() if key != "institution"}
    if partial:
        event = services.get_event((request.view_args or {}).get("event_id", 0))
        if event is None or not can(user, "events.manage", event):
            return {}
        return services.check_event_data(user, event.institution, fields, event)
    institution = db.session.execute(
        select(Institution).where(Institution.slug == data.get("institution"))
    ).scalar_one_or_none()
    if institution is None or not can(user, "events.manage", institution):
        return {}
    return services.check_event_data(user, institution, fields)


class EventPatchSchema(EventInSchema):
    """Patch body: any subset of the create fields."""


class NamedInstitutionSchema(ma.Schema):
    slug = ma.fields.String()
    name = ma.fields.String()
    acronym = ma.fields.String(allow_none=True)


CONSENT_DESCRIPTION = (
    "The named institution's answer: `pending` until one of its liaisons or staff accepts "
    "(until then it does not count as its event or commitment), `accepted`, or `declined` "
    "(shown only to the organiser's managers)."
)


class CohostSchema(NamedInstitutionSchema):
    status = ma.fields.String(
        validate=ma.validate.OneOf([c.value for c in ConsentStatus]),
        metadata={"description": CONSENT_DESCRIPTION},
    )


class CohostAnswerSchema(ma.Schema):
    event_id = ma.fields.Integer()
    event_title = ma.fields.String()
    organizer = ma.fields.Nested(NamedInstitutionSchema)
    institution = ma.fields.Nested(NamedInstitutionSchema)
    status = ma.fields.String(metadata={"description": CONSENT_DESCRIPTION})
    requested_at = ma.fields.String(allow_none=True)
    responded_at = ma.fields.String(allow_none=True)


class AgendaItemSchema(ma.Schema):
    starts_at = ma.fields.String()
    title = ma.fields.String()
    speaker = ma.fields.String(allow_none=True)


class QuestionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    prompt = ma.fields.String()
    choices = ma.fields.List(ma.fields.String())
    required = ma.fields.Boolean()


class CommitmentSchema(ma.Schema):
    id = ma.fields.Integer()
    text = ma.fields.String()
    responsible = ma.fields.String()
    responsible_institution = ma.fields.String(allow_none=True)
    responsible_status = ma.fields.String(
        allow_none=True, metadata={"description": CONSENT_DESCRIPTION + " Null when no institution is named."}
    )
    event_id = ma.fields.Integer()
    due_on = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    updated_at = ma.fields.String()


class OutcomeSchema(ma.Schema):
    attendance = ma.fields.Integer()
    minutes = ma.fields.String()
    recorded_at = ma.fields.String()
    datasets_published = ma.fields.List(ma.fields.Nested(DatasetSchema))
    datasets_requested = ma.fields.List(ma.fields.Nested(DatasetSchema))
    commitments = ma.fields.List(ma.fields.Nested(CommitmentSchema))


class CoverSchema(ma.Schema):
    url = ma.fields.String(metadata={"description": "Path of the picture (at most 1600 px wide)."})
    alt = ma.fields.String(metadata={"description": "Its text alternative."})
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    thumbnail_url = ma.fields.String(metadata={"description": "Path of a copy up to 640 px wide."})


class EventSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    institution = ma.fields.Nested(NamedInstitutionSchema)
    cohosts = ma.fields.List(ma.fields.Nested(CohostSchema))
    kind = ma.fields.String()
    status = ma.fields.String()
    title = ma.fields.String()
    summary = ma.fields.String()
    description = ma.fields.String()
    topics = ma.fields.List(ma.fields.String())
    format = ma.fields.String()
    venue = ma.fields.String(allow_none=True)
    address = ma.fields.String(allow_none=True)
    state = ma.fields.String(allow_none=True)
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)
    map_url = ma.fields.String(allow_none=True)
    online_url = ma.fields.String(
        allow_none=True, metadata={"description": "Only for confirmed registrants and the event's managers."}
    )
    starts_at = ma.fields.String(metadata={"description": "ISO 8601 with the event zone's offset."})
    ends_at = ma.fields.String()
    timezone = ma.fields.String()
    registration_opens_at = ma.fields.String(allow_none=True)
    registration_closes_at = ma.fields.String(allow_none=True)
    registration_state = ma.fields.String()
    capacity = ma.fields.Integer(allow_none=True)
    confirmed_count = ma.fields.Integer()
    waitlist_count = ma.fields.Integer()
    seats_left = ma.fields.Integer(allow_none=True)
    waitlist = ma.fields.Boolean()
    sector_seats = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    academic_partner = ma.fields.String(allow_none=True)
    reminder_offsets_minutes = ma.fields.List(ma.fields.Integer())
    agenda = ma.fields.List(ma.fields.Nested(AgendaItemSchema))
    datasets = ma.fields.List(ma.fields.Nested(DatasetSchema))
    questions = ma.fields.List(ma.fields.Nested(QuestionSchema))
    sequence = ma.fields.Integer()
    cancel_reason = ma.fields.String(allow_none=True)
    outcome = ma.fields.Nested(OutcomeSchema, allow_none=True)
    cover = ma.fields.Nested(CoverSchema, allow_none=True)
    created_at = ma.fields.String()
    updated_at = ma.fields.String()


class EventListArgs(ma.Schema):
    kind = ma.fields.String(validate=ma.validate.OneOf([k.value for k in EventKind]))
    institution = ma.fields.String(validate=ma.validate.Length(max=64))
    state = ma.fields.String(validate=ma.validate.Length(max=64))
    format = ma.fields.String(validate=ma.validate.OneOf([f.value for f in EventFormat]))
    when = ma.fields.String(validate=ma.validate.OneOf(["upcoming", "past"]))
    q = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "Words to find in title, summary, topics or institution (accents ignored)."},
    )


class DuplicateSchema(ma.Schema):
    starts_at = ma.fields.DateTime(
        required=True, metadata={"description": "Without offset: the event's zone."}
    )
    ends_at = ma.fields.DateTime(required=True)


class CancelSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class RegistrationInSchema(ma.Schema):
    answers = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=20)),
        values=ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=1000)]),
        load_default=dict,
        metadata={"description": "Answers to the registration questions, by question id."},
    )


class RegistrationResultSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "confirmed or waitlisted"})
    code = ma.fields.String()
    waitlist_position = ma.fields.Integer(allow_none=True)


class RegistrationSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    status = ma.fields.String()
    name = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    sector = ma.fields.String(allow_none=True)
    waitlist_position = ma.fields.Integer(allow_none=True)
    walk_in = ma.fields.Boolean()
    registered_at = ma.fields.String()
    checked_in_at = ma.fields.String(allow_none=True)
    answers = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class CheckInSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=20)])


class CheckInResultSchema(ma.Schema):
    already_checked_in = ma.fields.Boolean()
    registration = ma.fields.Nested(RegistrationSchema)


class WalkInSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    sector = ma.fields.String(allow_none=True, validate=ma.validate.OneOf([s.value for s in Sector]))


class AttendanceSchema(ma.Schema):
    confirmed = ma.fields.Integer()
    checked_in = ma.fields.Integer()
    walk_ins = ma.fields.Integer()
    no_shows = ma.fields.Integer()
    waitlisted = ma.fields.Integer()
    present = ma.fields.Integer()


class OutcomeInSchema(ma.Schema):
    attendance = ma.fields.Integer(
        allow_none=True,
        validate=ma.validate.Range(min=0, max=1_000_000),
        metadata={"description": "Defaults to the people checked in (walk-ins included)."},
    )
    minutes = ma.fields.String(load_default="", validate=ma.validate.Length(max=50000))
    datasets_published = ma.fields.List(ma.fields.Nested(DatasetSchema), validate=ma.validate.Length(max=30))
    datasets_requested = ma.fields.List(ma.fields.Nested(DatasetSchema), validate=ma.validate.Length(max=30))


class CommitmentInSchema(ma.Schema):
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    responsible_institution = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=64)]
    )
    responsible_name = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=200)]
    )
    due_on = ma.fields.Date(allow_none=True)
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in CommitmentStatus]))


class CommitmentPatchSchema(CommitmentInSchema):
    """Patch body: any subset of the commitment fields."""


class StoryInSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50000))
    datasets = ma.fields.List(ma.fields.Nested(DatasetSchema), validate=ma.validate.Length(max=30))
    published = ma.fields.Boolean(load_default=False)


class StorySchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    title = ma.fields.String()
    body = ma.fields.String()
    event_id = ma.fields.Integer()
    institution = ma.fields.Nested(NamedInstitutionSchema)
    datasets = ma.fields.List(ma.fields.Nested(DatasetSchema))
    published_at = ma.fields.String(allow_none=True)


# --- serialisation --------------------------------------------------------------------------


def _iso(value, zone: str | None = None) -> str | None:
    if value is None:
        return None
    return (to_zone(value, zone) if zone else value).isoformat()


def _institution(institution: Institution) -> dict[str, Any]:
    return {"slug": institution.slug, "name": institution.name, "acronym": institution.acronym}


def _may_manage(event: Any) -> bool:
    return can(api_user(), "events.manage", event)


def event_dict(
    event: Event, counts: services.SeatCounts | None = None, *, detail: bool = True
) -> dict[str, Any]:
    """An event as the API shows it to the current caller."""
    from core.urls import external_url

    counts = counts or services.seat_counts(event.id)
    zone = event.timezone
    user = api_user()
    registration = services.registration_for(user, event) if detail and user is not None else None
    show_online = bool(
        (registration is not None and registration.status == RegistrationStatus.confirmed)
        or (detail and _may_manage(event))
    )
    data: dict[str, Any] = {
        "id": event.id,
        "url": external_url("events.detail", event_id=event.id),
        "institution": _institution(event.institution),
        "kind": str(event.kind),
        "status": str(event.status),
        "title": event.title,
        "summary": event.summary,
        "topics": list(event.topics or []),
        "format": str(event.format),
        "venue": event.venue,
        "address": event.address,
        "state": event.state,
        "latitude": event.latitude,
        "longitude": event.longitude,
        "map_url": services.map_url(event),
        "online_url": event.online_url if show_online else None,
        "starts_at": _iso(event.starts_at, zone),
        "ends_at": _iso(event.ends_at, zone),
        "timezone": zone,
        "registration_opens_at": _iso(event.registration_opens_at, zone),
        "registration_closes_at": _iso(event.registration_closes_at, zone),
        "registration_state": services.registration_state(event, counts),
        "capacity": event.capacity,
        "confirmed_count": counts.confirmed,
        "waitlist_count": counts.waitlisted,
        "seats_left": services.seats_left(event, counts),
        "waitlist": event.waitlist_enabled,
        "academic_partner": event.academic_partner,
        "sequence": event.sequence,
        "cancel_reason": event.cancel_reason,
        "cover": services.cover_dict(event),
        "created_at": _iso(event.created_at),
        "updated_at": _iso(event.updated_at),
    }
    if detail:
        data.update(
            description=event.description,
            cohosts=[
                {**_institution(c.institution), "status": str(c.status)}
                for c in services.visible_cohosts(event, manager=_may_manage(event))
            ],
            sector_seats=event.seats_by_sector,
            reminder_offsets_minutes=list(event.reminder_offsets or []),
            agenda=[
                {"starts_at": _iso(item.starts_at, zone), "title": item.title, "speaker": item.speaker}
                for item in event.agenda
            ],
            datasets=[{"title": d.title, "url": d.url} for d in event.datasets_for(DatasetRelation.linked)],
            questions=[
                {
                    "id": q.id,
                    "kind": str(q.kind),
                    "prompt": q.prompt,
                    "choices": list(q.choices or []),
                    "required": q.required,
                }
                for q in event.questions
            ],
            outcome=_outcome_dict(event) if event.outcome is not None else None,
        )
    return data


def _commitment_dict(commitment: Commitment, *, manager: bool = False) -> dict[str, Any]:
    consent = commitment.responsible_consent
    # The public never sees an institution that declined; the organiser's managers do.
    named = commitment.responsible_institution is not None and (manager or consent != ConsentStatus.declined)
    return {
        "id": commitment.id,
        "event_id": commitment.event_id,
        "text": commitment.text,
        "responsible": commitment.responsible if manager else commitment.public_responsible,
        "responsible_institution": commitment.responsible_institution.slug if named else None,
        "responsible_status": str(consent) if named else None,
        "due_on": commitment.due_on.isoformat() if commitment.due_on else None,
        "status": str(commitment.status),
        "updated_at": _iso(commitment.updated_at),
    }


def _outcome_dict(event: Event) -> dict[str, Any]:
    outcome = event.outcome
    return {
        "attendance": outcome.attendance,
        "minutes": outcome.minutes,
        "recorded_at": _iso(outcome.recorded_at),
        "datasets_published": [
            {"title": d.title, "url": d.url} for d in event.datasets_for(DatasetRelation.published)
        ],
        "datasets_requested": [
            {"title": d.title, "url": d.url} for d in event.datasets_for(DatasetRelation.requested)
        ],
        "commitments": [
            _commitment_dict(c, manager=_may_manage(event)) for c in services.public_commitments(event)
        ],
    }


def _registration_dict(
    registration: Registration, event: Event, position: int | None = None
) -> dict[str, Any]:
    user = registration.user
    return {
        "id": registration.id,
        "code": registration.code,
        "status": str(registration.status),
        "name": registration.display_name,
        "email": user.email if user is not None and user.deleted_at is None else None,
        "sector": registration.sector,
        "waitlist_position": position,
        "walk_in": registration.walk_in,
        "registered_at": _iso(registration.created_at, event.timezone),
        "checked_in_at": _iso(registration.checked_in_at, event.timezone),
        "answers": registration.answers or {},
    }


def _story_dict(story: SuccessStory) -> dict[str, Any]:
    from core.urls import external_url

    return {
        "id": story.id,
        "url": external_url("events.story", story_id=story.id),
        "title": story.title,
        "body": story.body,
        "event_id": story.event_id,
        "institution": _institution(story.institution),
        "datasets": [{"title": d.title, "url": d.url} for d in story.datasets],
        "published_at": _iso(story.published_at),
    }


# --- helpers ---------------------------------------------------------------------------------


def _domain_abort(exc: DomainError):
    if isinstance(exc, ValidationErrors):  # every bad field at once
        fields = {name: [str(message)] for name, message in exc.errors.items()}
    else:
        fields = {exc.field: [str(exc.message)]} if exc.field else None
    api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)


def _event_or_404(event_id: int) -> Event:
    event = services.get_event(event_id)
    if event is None or not may_view(api_user(), event):
        api_abort(404, _("No existe esa actividad."))
    return event


def _managed_event_or_404(event_id: int) -> Event:
    event = _event_or_404(event_id)
    if not _may_manage(event):
        api_abort(403, _("Solo la institución de la actividad (sus enlaces y su personal) puede hacer esto."))
    return event


def _institution_or_422(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        api_abort(
            422,
            _("No existe la institución '%(slug)s'.", slug=slug),
            fields={"institution": [_("Institución desconocida.")]},
        )
    return institution


def _run(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except DomainError as exc:
        db.session.rollback()
        _domain_abort(exc)


# --- events ------------------------------------------------------------------------------------


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EventListArgs, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=100)
    def get(self, args, pagination_parameters):
        """Public events with filters (`X-Pagination` header has the totals).

        The total is counted up to 10 pages past the one asked for; beyond that `X-Pagination`
        says `"total_exact": false` and `total` is a lower bound (`next_page` leads on)."""
        filters = services.EventFilters(
            kind=args.get("kind"),
            institution=args.get("institution"),
            state=args.get("state"),
            format=args.get("format"),
            when=args.get("when"),
            q=args.get("q"),
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
        )
        page = services.list_events(filters)
        pagination_parameters.item_count = page.total
        pagination_parameters.total_exact = page.total_exact
        return [event_dict(event, page.counts[event.id], detail=False) for event in page.items]

    @blp.doc(security=SECURED)
    @blp.arguments(EventInSchema)
    @blp.response(201, EventSchema)
    @auth_required
    def post(self, payload):
        """Create a draft event for an institution you manage."""
        institution = _institution_or_422(payload.pop("institution"))
        if not can(api_user(), "events.manage", institution):
            api_abort(
                403, _("Solo los enlaces y el personal de la institución pueden crear sus actividades.")
            )
        event = _run(services.create_event, api_user(), institution, payload)
        return event_dict(services.get_event(event.id))


@blp.route("/events/<id:event_id>")
class EventItem(MethodView):
    @blp.response(200, EventSchema)
    def get(self, event_id: int):
        """One event with `capacity`, `confirmed_count`, `waitlist_count` and `status`."""
        return event_dict(_event_or_404(event_id))

    @blp.doc(security=SECURED)
    @blp.arguments(EventPatchSchema(partial=True))
    @blp.response(200, EventSchema)
    @auth_required
    def patch(self, payload, event_id: int):
        """Edit an event; moving a published one notifies registrants and moves reminders."""
        event = _managed_event_or_404(event_id)
        payload.pop("institution", None)
        _run(services.update_event, api_user(), event, payload)
        return event_dict(services.get_event(event_id))

    @blp.doc(security=SECURED)
    @blp.response(204)
    @blp.alt_response(409, schema=None, description="`illegal_transition`: the event was published once.")
    @auth_required
    def delete(self, event_id: int):
        """Delete a draft (never published; audited). An event once published is cancelled instead (409)."""
        event = _managed_event_or_404(event_id)
        _run(services.delete_draft, api_user(), event)


COVER_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image", "alt"],
                "properties": {
                    "image": {
                        "type": "string",
                        "format": "binary",
                        "description": "A JPEG, PNG or WebP of up to 8 MB and 50 megapixels, recognised by "
                        "its content (not its name or declared type).",
                    },
                    "alt": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": ALT_MAX_LENGTH,
                        "description": "What the picture shows, for people who cannot see it (one line).",
                    },
                },
            }
        }
    },
}


@blp.route("/events/<id:event_id>/cover")
class EventCover(MethodView):
    @blp.doc(security=SECURED, requestBody=COVER_BODY)
    @blp.response(200, EventSchema)
    @auth_required
    def put(self, event_id: int):
        """Set or replace the event's cover picture: `multipart/form-data` with `image` and `alt`.

        The picture is checked by its content, turned upright, resized (1600 px wide at most, plus
        a 640 px thumbnail) and re-encoded without its metadata (EXIF, GPS, comments). 422 names
        `image` or `alt`; 413 when the picture is over 8 MB.
        """
        event = _managed_event_or_404(event_id)
        if not request.content_length and request.mimetype != "multipart/form-data":
            api_abort(
                400,
                _("Esta solicitud necesita un cuerpo multipart/form-data con los campos 'image' y 'alt'."),
            )
        if request.mimetype != "multipart/form-data":
            api_abort(415, _("Envía multipart/form-data con los campos 'image' (el archivo) y 'alt'."))
        upload = request.files.get("image")
        data = upload.read() if upload is not None else b""
        _run(services.set_cover, api_user(), event, data, request.form.get("alt"))
        return event_dict(services.get_event(event_id))

    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self, event_id: int):
        """Remove the event's cover picture (deleted when nothing else shows it)."""
        event = _managed_event_or_404(event_id)
        _run(services.remove_cover, api_user(), event)


accepts_image_uploads("events_api.EventCover")


@blp.route("/events/<id:event_id>/publish")
class Publish(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, EventSchema)
    @auth_required
    def post(self, event_id: int):
        """Publish a draft (registration opens)."""
        event = _managed_event_or_404(event_id)
        _run(services.publish_event, api_user(), event)
        return event_dict(services.get_event(event_id))


@blp.route("/events/<id:event_id>/duplicate")
class Duplicate(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(DuplicateSchema)
    @blp.response(201, EventSchema)
    @auth_required
    def post(self, payload, event_id: int):
        """Copy an event to new dates as a new draft of the same institution (audited).

        Everything but the dates is copied; the agenda and the registration window move with
        the start. Registrations, attendance, outcome and commitments are not copied.
        """
        event = _managed_event_or_404(event_id)
        copy = _run(services.duplicate_event, api_user(), event, payload["starts_at"], payload["ends_at"])
        return event_dict(services.get_event(copy.id))


@blp.route("/events/<id:event_id>/cancel")
class Cancel(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(CancelSchema)
    @blp.response(200, EventSchema)
    @auth_required
    def post(self, payload, event_id: int):
        """Cancel a published event with a reason; every registrant gets an email with an iCal CANCEL.

        A draft is not cancelled (409 `illegal_transition`): delete it.
        """
        event = _managed_event_or_404(event_id)
        _run(services.cancel_event, api_user(), event, payload["reason"])
        return event_dict(services.get_event(event_id))


# --- registration --------------------------------------------------------------------------------


@blp.route("/events/<id:event_id>/registration")
class MyRegistration(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, RegistrationResultSchema)
    @auth_required
    def get(self, event_id: int):
        """My active registration for this event (404 when none)."""
        event = _event_or_404(event_id)
        registration = services.registration_for(api_user(), event)
        if registration is None:
            api_abort(404, _("No tienes registro en esta actividad."), code="not_registered")
        return {
            "status": str(registration.status),
            "code": registration.code,
            "waitlist_position": services.waitlist_position(registration),
        }

    @blp.doc(security=SECURED)
    @blp.arguments(RegistrationInSchema, required=False)
    @blp.response(201, RegistrationResultSchema)
    @blp.alt_response(409, schema=None, description="Already registered, full, or registration closed.")
    @auth_required
    def post(self, payload, event_id: int):
        """Register: `confirmed` while seats remain, else `waitlisted` (or 409 when full)."""
        # The event is read once, already locked: the lean path of a registration burst.
        event = services.lock_for_registration(event_id)
        if event is None or not may_view(api_user(), event):
            db.session.rollback()
            api_abort(404, _("No existe esa actividad."))
        answers = (payload or {}).get("answers") or {}
        registration = _run(services.register, api_user(), event, answers, event_locked=True)
        return {
            "status": str(registration.status),
            "code": registration.code,
            "waitlist_position": services.waitlist_position(registration),
        }

    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self, event_id: int):
        """Cancel my registration (until the start); the first waitlisted person is promoted."""
        event = _event_or_404(event_id)
        registration = services.registration_for(api_user(), event)
        if registration is None:
            api_abort(404, _("No tienes registro en esta actividad."), code="not_registered")
        _run(services.cancel_registration, api_user(), registration)


@blp.route("/events/<id:event_id>/registrations")
class Registrations(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, RegistrationSchema(many=True))
    @auth_required
    def get(self, event_id: int):
        """Every registration in arrival order, with answers (the event's managers)."""
        event = _managed_event_or_404(event_id)
        rows = services.registrations_of(event)
        positions = services.waitlist_positions(rows)
        return [_registration_dict(r, event, positions.get(r.id)) for r in rows]


@blp.route("/events/<id:event_id>/checkins")
class CheckIns(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(CheckInSchema)
    @blp.response(200, CheckInResultSchema)
    @auth_required
    def post(self, payload, event_id: int):
        """Check a confirmed person in by their registration code."""
        event = _managed_event_or_404(event_id)
        result = _run(services.check_in, api_user(), event, payload["code"])
        return {
            "already_checked_in": result.already,
            "registration": _registration_dict(result.registration, event),
        }


@blp.route("/events/<id:event_id>/walk-ins")
class WalkIns(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(WalkInSchema)
    @blp.response(201, RegistrationSchema)
    @auth_required
    def post(self, payload, event_id: int):
        """Record someone who came without registering."""
        event = _managed_event_or_404(event_id)
        registration = _run(
            services.record_walk_in, api_user(), event, payload["name"], payload.get("sector")
        )
        return _registration_dict(registration, event)


@blp.route("/events/<id:event_id>/attendance")
class AttendanceItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, AttendanceSchema)
    @auth_required
    def get(self, event_id: int):
        """Confirmed, checked in, walk-ins, no-shows and waitlisted (the event's managers)."""
        event = _managed_event_or_404(event_id)
        figures = services.attendance(event)
        return {**figures.__dict__, "present": figures.present}


# --- outcome, commitments, stories --------------------------------------------------------------


@blp.route("/events/<id:event_id>/outcome")
class Outcome(MethodView):
    @blp.response(200, OutcomeSchema)
    def get(self, event_id: int):
        """The recorded outcome (public once recorded)."""
        event = _event_or_404(event_id)
        if event.outcome is None:
            api_abort(404, _("Aún no hay un resultado registrado."))
        return _outcome_dict(event)

    @blp.doc(security=SECURED)
    @blp.arguments(OutcomeInSchema)
    @blp.response(200, OutcomeSchema)
    @auth_required
    def put(self, payload, event_id: int):
        """Record or correct the outcome; a published event becomes completed."""
        event = _managed_event_or_404(event_id)
        _run(
            services.record_outcome,
            api_user(),
            event,
            attendance_count=payload.get("attendance"),
            minutes=payload.get("minutes"),
            published_datasets=payload.get("datasets_published"),
            requested_datasets=payload.get("datasets_requested"),
        )
        return _outcome_dict(services.get_event(event_id))


@blp.route("/events/<id:event_id>/commitments")
class Commitments(MethodView):
    @blp.response(200, CommitmentSchema(many=True))
    def get(self, event_id: int):
        """The event's commitments (acuerdos), public."""
        event = _event_or_404(event_id)
        manager = _may_manage(event)
        return [_commitment_dict(c, manager=manager) for c in services.public_commitments(event)]

    @blp.doc(security=SECURED)
    @blp.arguments(CommitmentInSchema)
    @blp.response(201, CommitmentSchema)
    @auth_required
    def post(self, payload, event_id: int):
        """Add a commitment with its responsible party, due date and status.

        Another institution named responsible is asked to accept; until then
        `responsible_status` is `pending`.
        """
        event = _managed_event_or_404(event_id)
        commitment = _run(services.add_commitment, api_user(), event, payload)
        return _commitment_dict(commitment, manager=True)


@blp.route("/commitments/<id:commitment_id>")
class CommitmentItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(CommitmentPatchSchema(partial=True))
    @blp.response(200, CommitmentSchema)
    @auth_required
    def patch(self, payload, commitment_id: int):
        """Update a commitment (status: pending, in_progress, done, dropped)."""
        commitment = db.session.get(Commitment, commitment_id)
        if commitment is None:
            api_abort(404, _("No existe ese acuerdo."))
        if not can(api_user(), "events.manage", commitment):
            api_abort(403, _("Solo la institución de la actividad puede actualizar sus acuerdos."))
        updated = _run(services.update_commitment, api_user(), commitment, payload)
        return _commitment_dict(updated, manager=True)


def _cohost_or_404(event_id: int, slug: str):
    cohost = services.get_cohost(event_id, slug)
    if cohost is None:
        api_abort(404, _("Esta institución no figura como coorganizadora de esta actividad."))
    if not can(api_user(), "events.consent", cohost.institution):
        if not may_view(api_user(), cohost.event):
            api_abort(404, _("Esta institución no figura como coorganizadora de esta actividad."))
        api_abort(
            403, _("Solo los enlaces y el personal de la institución nombrada pueden responder por ella.")
        )
    return cohost


def _cohost_dict(cohost) -> dict[str, Any]:
    return {
        "event_id": cohost.event_id,
        "event_title": cohost.event.title,
        "organizer": _institution(cohost.event.institution),
        "institution": _institution(cohost.institution),
        "status": str(cohost.status),
        "requested_at": _iso(cohost.requested_at),
        "responded_at": _iso(cohost.responded_at),
    }


def _commitment_to_answer(commitment_id: int) -> Commitment:
    commitment = db.session.get(Commitment, commitment_id)
    if commitment is None or commitment.responsible_institution is None:
        api_abort(404, _("No existe ese acuerdo con una institución nombrada."))
    if not can(api_user(), "events.consent", commitment.responsible_institution):
        if not may_view(api_user(), commitment.event):
            api_abort(404, _("No existe ese acuerdo con una institución nombrada."))
        api_abort(
            403, _("Solo los enlaces y el personal de la institución nombrada pueden responder por ella.")
        )
    return commitment


class ConsentRequestsSchema(ma.Schema):
    cohosts = ma.fields.List(ma.fields.Nested(CohostAnswerSchema))
    commitments = ma.fields.List(ma.fields.Nested(CommitmentSchema))


@blp.route("/consent-requests")
class ConsentRequests(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, ConsentRequestsSchema)
    @auth_required
    def get(self):
        """Pending requests to the institutions I answer for (liaison or staff): co-hosting an
        event, being responsible for a commitment. Answer them with the accept/decline endpoints."""
        requests = services.consent_requests(api_user())
        return {
            "cohosts": [_cohost_dict(c) for c in requests.cohosts],
            "commitments": [_commitment_dict(c, manager=True) for c in requests.commitments],
        }


@blp.route("/events/<id:event_id>/cohosts/<slug>/accept")
class CohostAccept(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, CohostAnswerSchema)
    @blp.alt_response(409, schema=None, description="`illegal_transition`: the institution already declined.")
    @auth_required
    def post(self, event_id: int, slug: str):
        """Accept, for the named institution, co-hosting this event (its liaisons and staff; audited).

        The organiser is notified; from then on the event counts as the institution's too
        (its calendar feed, the list filtered by institution). Repeating the answer changes nothing.
        """
        cohost = _cohost_or_404(event_id, slug)
        return _cohost_dict(_run(services.answer_cohost, api_user(), cohost, accept=True))


@blp.route("/events/<id:event_id>/cohosts/<slug>/decline")
class CohostDecline(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, CohostAnswerSchema)
    @blp.alt_response(409, schema=None, description="`illegal_transition`: the institution already accepted.")
    @auth_required
    def post(self, event_id: int, slug: str):
        """Decline, for the named institution, co-hosting this event (audited).

        The institution disappears from the public page and API; the organiser sees the decline.
        """
        cohost = _cohost_or_404(event_id, slug)
        return _cohost_dict(_run(services.answer_cohost, api_user(), cohost, accept=False))


@blp.route("/commitments/<id:commitment_id>/accept")
class CommitmentAccept(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, CommitmentSchema)
    @blp.alt_response(409, schema=None, description="`illegal_transition`: the institution already declined.")
    @auth_required
    def post(self, commitment_id: int):
        """Accept, for the institution named responsible, a commitment (its liaisons and staff; audited)."""
        commitment = _commitment_to_answer(commitment_id)
        answered = _run(services.answer_responsibility, api_user(), commitment, accept=True)
        return _commitment_dict(answered, manager=True)


@blp.route("/commitments/<id:commitment_id>/decline")
class CommitmentDecline(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, CommitmentSchema)
    @blp.alt_response(409, schema=None, description="`illegal_transition`: the institution already accepted.")
    @auth_required
    def post(self, commitment_id: int):
        """Decline, for the institution named responsible, a commitment (audited; the organiser is told)."""
        commitment = _commitment_to_answer(commitment_id)
        answered = _run(services.answer_responsibility, api_user(), commitment, accept=False)
        return _commitment_dict(answered, manager=True)


@blp.route("/events/<id:event_id>/story")
class EventStory(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(StoryInSchema)
    @blp.response(200, StorySchema)
    @auth_required
    def put(self, payload, event_id: int):
        """Write or edit the event's success story; `published` publishes or withdraws it."""
        event = _managed_event_or_404(event_id)
        story = services.story_of(event)
        story = _run(
            services.save_story,
            api_user(),
            event,
            title=payload["title"],
            body=payload["body"],
            datasets=payload.get("datasets"),
            publish=payload["published"],
            story=story,
        )
        if not payload["published"] and story.published_at is not None:
            services.set_story_published(api_user(), story, False)
        return _story_dict(services.get_story(story.id))


@blp.route("/stories")
class Stories(MethodView):
    @blp.response(200, StorySchema(many=True))
    @blp.paginate(page_size=20, max_page_size=100)
    def get(self, pagination_parameters):
        """Published success stories, newest first."""
        page = services.list_stories(
            page=pagination_parameters.page, per_page=pagination_parameters.page_size
        )
        pagination_parameters.item_count = page.total
        return [_story_dict(story) for story in page.items]


@blp.route("/stories/<id:story_id>")
class StoryItem(MethodView):
    @blp.response(200, StorySchema)
    def get(self, story_id: int):
        """One published success story."""
        story = services.get_story(story_id)
        hidden = story is not None and (story.published_at is None or not story.event.is_public)
        if story is None or (hidden and not can(api_user(), "events.manage", story)):
            api_abort(404, _("No existe esa historia."))
        return _story_dict(story)
