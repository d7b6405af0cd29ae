"""JSON API of the day of an event (thin: `events.services` works):
name search, check-in by registration and its undo, messages to the event's people,
confirming a waitlisted person by hand, attendance certificates and their verification."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from flask_babel import gettext as _

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.timeutil import to_zone
from core.urls import external_url
from core.validation import SingleLineText
from events import services
from events.api import (
    CheckInResultSchema,
    RegistrationSchema,
    _managed_event_or_404,
    _registration_dict,
    _run,
)
from events.dayof_models import EventMessage, MessageAudience
from events.limits import limit_messages

blp = ApiBlueprint(
    "events_dayof_api",
    __name__,
    description="The day of an event, for its organisers: find people by name, check them in "
    "or undo it, write to everyone confirmed or waitlisted, confirm a waitlisted person by hand. "
    "For attendees: their attendance certificate (PDF); for anyone: a certificate's verification.",
)
SECURED = [{"bearerAuth": []}]


class AttendeeSearchArgs(ma.Schema):
    q = ma.fields.String(
        required=True,
        validate=[SingleLineText(), ma.validate.Length(min=1, max=200)],
        metadata={"description": "Words of the name, email or code (accents and case ignored)."},
    )


class MessageInSchema(ma.Schema):
    audience = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(list(MessageAudience.all)),
        metadata={"description": "`confirmed` or `waitlisted`."},
    )
    subject = ma.fields.String(
        required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=services.MAX_SUBJECT)]
    )
    body = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=services.MAX_BODY),
        metadata={"description": "Plain text; line breaks are kept."},
    )
    preview = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Only count the recipients (200); nothing is sent or rate-limited."},
    )


class MessageSchema(ma.Schema):
    id = ma.fields.Integer(allow_none=True)
    audience = ma.fields.String()
    subject = ma.fields.String()
    body = ma.fields.String()
    recipients = ma.fields.Integer()
    sent_at = ma.fields.String(allow_none=True)
    sent = ma.fields.Boolean()


class MessagesSchema(ma.Schema):
    audiences = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "How many people each audience reaches now."},
    )
    messages = ma.fields.List(ma.fields.Nested(MessageSchema))


class PromoteInSchema(ma.Schema):
    raise_capacity = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "When the person has no seat in the capacity, raise the capacity as far as "
            "they need (else 409 `event_full`)."
        },
    )
    raise_sector_seats = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "When the seats reserved for the person's sector are taken, give that sector "
            "one more seat (else 409 `sector_full`)."
        },
    )


class CertificateSchema(ma.Schema):
    code = ma.fields.String()
    valid = ma.fields.Boolean()
    name = ma.fields.String()
    event_id = ma.fields.Integer()
    event = ma.fields.String()
    starts_at = ma.fields.String()
    ends_at = ma.fields.String()
    institution = ma.fields.String()
    issued_at = ma.fields.String()
    url = ma.fields.String()


def _message_dict(message: EventMessage, *, sent: bool = True) -> dict[str, Any]:
    return {
        "id": message.id,
        "audience": message.audience,
        "subject": message.subject,
        "body": message.body,
        "recipients": message.recipients,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "sent": sent,
    }


@blp.route("/events/<id:event_id>/attendees")
class Attendees(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(AttendeeSearchArgs, location="query")
    @blp.response(200, RegistrationSchema(many=True))
    @auth_required
    def get(self, args, event_id: int):
        """Active registrations matching a name, email or code (the event's managers; at most 50)."""
        event = _managed_event_or_404(event_id)
        return [_registration_dict(r, event) for r in services.find_attendees(event, args["q"])]


@blp.route("/events/<id:event_id>/checkins/<id:registration_id>")
class CheckInItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, CheckInResultSchema)
    @auth_required
    def post(self, event_id: int, registration_id: int):
        """Check a confirmed person in by their registration id (from the name search)."""
        event = _managed_event_or_404(event_id)
        result = _run(services.check_in_registration, api_user(), event, registration_id)
        return {
            "already_checked_in": result.already,
            "registration": _registration_dict(result.registration, event),
        }

    @blp.doc(security=SECURED)
    @blp.response(200, RegistrationSchema)
    @blp.alt_response(409, schema=None, description="`not_checked_in`: nothing to undo.")
    @auth_required
    def delete(self, event_id: int, registration_id: int):
        """Undo a check-in (audited; a walk-in is cancelled; an issued certificate is withdrawn)."""
        event = _managed_event_or_404(event_id)
        registration = _run(services.undo_check_in, api_user(), event, registration_id)
        return _registration_dict(registration, event)


@blp.route("/events/<id:event_id>/messages")
class Messages(MethodView):
    decorators = [limit_messages]

    @blp.doc(security=SECURED)
    @blp.response(200, MessagesSchema)
    @auth_required
    def get(self, event_id: int):
        """Recipients per audience and the messages sent so far, newest first."""
        event = _managed_event_or_404(event_id)
        return {
            "audiences": services.audience_counts(event),
            "messages": [_message_dict(m) for m in services.sent_messages(event)],
        }

    @blp.doc(security=SECURED)
    @blp.arguments(MessageInSchema)
    @blp.response(201, MessageSchema)
    @blp.alt_response(200, schema=MessageSchema, description="`preview: true`: the count, nothing sent.")
    @blp.alt_response(409, schema=None, description="`already_sent`: the same message was sent before.")
    @auth_required
    def post(self, payload, event_id: int):
        """Email everyone confirmed (or waitlisted), one outbox row each; the same message twice
        is refused (409), so a retried call never sends twice. Rate-limited per organiser."""
        event = _managed_event_or_404(event_id)
        if payload.get("preview"):
            return {
                "id": None,
                "audience": payload["audience"],
                "subject": payload["subject"],
                "body": payload["body"],
                "recipients": services.audience_counts(event)[payload["audience"]],
                "sent_at": None,
                "sent": False,
            }, 200
        message = _run(
            services.send_message, api_user(), event, payload["audience"], payload["subject"], payload["body"]
        )
        return _message_dict(message)


@blp.route("/events/<id:event_id>/registrations/<id:registration_id>/promote")
class Promote(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(PromoteInSchema, required=False)
    @blp.response(200, RegistrationSchema)
    @blp.alt_response(
        409,
        schema=None,
        description="`sector_full` (the person's sector has no reserved seat left; without "
        "`raise_sector_seats`), `event_full` (no seat left in the capacity for them; without "
        "`raise_capacity`), `not_waitlisted`. `fields` names the flag that answers the refusal.",
    )
    @auth_required
    def post(self, payload, event_id: int, registration_id: int):
        """Confirm a waitlisted person by hand; they are emailed as in an automatic promotion."""
        event = _managed_event_or_404(event_id)
        registration = _run(
            services.promote_by_hand,
            api_user(),
            event,
            registration_id,
            raise_capacity=bool((payload or {}).get("raise_capacity")),
            raise_sector_seats=bool((payload or {}).get("raise_sector_seats")),
        )
        return _registration_dict(registration, event)


PDF_RESPONSE = {
    "200": {
        "description": "The certificate as PDF (issued on first request).",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
}


@blp.route("/registrations/<id:registration_id>/certificate")
class Certificate(MethodView):
    @blp.doc(security=SECURED, responses=PDF_RESPONSE)
    @auth_required
    def get(self, registration_id: int):
        """My attendance certificate (constancia) for one registration, as PDF.

        403 `no_certificate` until the event starts, or when my attendance was not recorded;
        404 when the registration is not mine."""
        certificate = _run(services.certificate_for, api_user(), registration_id)
        filename = services.certificate_file_name(certificate)
        return Response(
            services.certificate_pdf(certificate),
            mimetype="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "private, no-store",
            },
        )


@blp.route("/certificates/<code>")
class CertificateVerification(MethodView):
    @blp.response(200, CertificateSchema)
    def get(self, code: str):
        """Verify a certificate by its code (public): who attended what, when, with whom."""
        certificate = services.verify_certificate(code)
        if certificate is None:
            api_abort(404, _("No hay una constancia válida con este código."))
        event = certificate.registration.event
        return {
            "code": certificate.code,
            "valid": True,
            "name": certificate.holder_name,
            "event_id": event.id,
            "event": event.title,
            "starts_at": to_zone(event.starts_at, event.timezone).isoformat(),
            "ends_at": to_zone(event.ends_at, event.timezone).isoformat(),
            "institution": event.institution.name,
            "issued_at": certificate.issued_at.isoformat(),
            "url": external_url("events.verify_certificate", code=certificate.code),
        }
