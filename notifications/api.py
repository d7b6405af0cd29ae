"""JSON API of notifications: the in-app centre, preferences and delivery operations
(thin: services do the work)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_babel import gettext as _

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.exceptions import DomainError
from core.permissions import can
from notifications import (
    permissions,  # noqa: F401 - registers the policy rules
    services,
)
from notifications.models import Category, Channel, NotificationStatus

blp = ApiBlueprint(
    "notifications_api",
    __name__,
    description="The notification centre, notification preferences and the outbox (admins).",
)
SECURED = [{"bearerAuth": []}]


class InAppSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    category = ma.fields.String(allow_none=True)
    title = ma.fields.String()
    body = ma.fields.String()
    link = ma.fields.String()
    created_at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)


class InboxQuerySchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=10_000))
    per_page = ma.fields.Integer(load_default=30, validate=ma.validate.Range(min=1, max=100))
    unread = ma.fields.Boolean(load_default=False)


class InboxSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(InAppSchema))
    total = ma.fields.Integer()
    unread = ma.fields.Integer()


class ReadAllSchema(ma.Schema):
    marked = ma.fields.Integer()


_CHANNELS = [channel.value for channel in Channel]


class PreferencesSchema(ma.Schema):
    """One channel per category: email, daily, weekly, in_app or off."""

    events = ma.fields.String(validate=ma.validate.OneOf(_CHANNELS))
    surveys = ma.fields.String(validate=ma.validate.OneOf(_CHANNELS))
    challenges = ma.fields.String(validate=ma.validate.OneOf(_CHANNELS))
    answers = ma.fields.String(validate=ma.validate.OneOf(_CHANNELS))
    institution = ma.fields.String(validate=ma.validate.OneOf(_CHANNELS))
    event_messages = ma.fields.String(validate=ma.validate.OneOf(_CHANNELS))


class OutboxQuerySchema(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in NotificationStatus]))
    kind = ma.fields.String(validate=ma.validate.Length(max=64))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=10_000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class OutboxRowSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    category = ma.fields.String(allow_none=True)
    to_email = ma.fields.String()
    subject = ma.fields.String()
    status = ma.fields.String()
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)
    message_id = ma.fields.String()
    created_at = ma.fields.DateTime()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    sent_at = ma.fields.DateTime(allow_none=True)


class OutboxSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(OutboxRowSchema))
    total = ma.fields.Integer()
    by_status = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


def _domain_abort(exc: DomainError):
    fields = {exc.field: [str(exc.message)]} if exc.field else None
    api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)


def _require_admin(action: str) -> None:
    if not can(api_user(), action):
        api_abort(403, _("No se te permite hacer esto."))


@blp.route("/notifications")
class Inbox(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(InboxQuerySchema, location="query")
    @blp.response(200, InboxSchema)
    @auth_required
    def get(self, args):
        """My notification centre, newest first, with the unread count."""
        user = api_user()
        items, total = services.inbox(
            user, page=args["page"], per_page=args["per_page"], unread_only=args["unread"]
        )
        return {"items": items, "total": total, "unread": services.unread_count(user)}


@blp.route("/notifications/<id:item_id>/read")
class ReadOne(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, InAppSchema)
    @auth_required
    def post(self, item_id: int):
        """Mark one of my notifications read."""
        try:
            return services.mark_read(api_user(), item_id)
        except DomainError as exc:
            _domain_abort(exc)


@blp.route("/notifications/read-all")
class ReadAll(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, ReadAllSchema)
    @auth_required
    def post(self):
        """Mark all my notifications read."""
        return {"marked": services.mark_all_read(api_user())}


@blp.route("/notification-preferences")
class Preferences(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, PreferencesSchema)
    @auth_required
    def get(self):
        """My channel per category (every category starts at "email")."""
        return {str(k): str(v) for k, v in services.preferences_of(api_user()).items()}

    @blp.doc(security=SECURED)
    @blp.arguments(PreferencesSchema)
    @blp.response(200, PreferencesSchema)
    @auth_required
    def put(self, data):
        """Change the channel of the categories given (the others stay as they are)."""
        try:
            saved = services.set_preferences(api_user(), {Category(k): v for k, v in data.items()})
        except DomainError as exc:
            _domain_abort(exc)
        return {str(k): str(v) for k, v in saved.items()}


@blp.route("/outbox")
class Outbox(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(OutboxQuerySchema, location="query")
    @blp.response(200, OutboxSchema)
    @auth_required
    def get(self, args):
        """Outbox messages, newest first, filtered by status and kind (platform admins)."""
        _require_admin("notifications.outbox.manage")
        per_page = args["per_page"]
        rows, total = services.outbox_rows(
            status=args.get("status"),
            kind=args.get("kind"),
            limit=per_page,
            offset=(args["page"] - 1) * per_page,
        )
        return {"items": rows, "total": total, "by_status": services.outbox_summary()}


@blp.route("/outbox/<id:notification_id>/retry")
class RetryMessage(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, OutboxRowSchema)
    @auth_required
    def post(self, notification_id: int):
        """Put a failed or withheld message back in the queue (platform admins)."""
        _require_admin("notifications.outbox.manage")
        try:
            return services.retry_notification(api_user(), notification_id)
        except DomainError as exc:
            _domain_abort(exc)


@blp.route("/outbox/<id:notification_id>/withhold")
class WithholdMessage(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, OutboxRowSchema)
    @auth_required
    def post(self, notification_id: int):
        """Keep a queued message from going out (platform admins)."""
        _require_admin("notifications.outbox.manage")
        try:
            return services.withhold_notification(api_user(), notification_id)
        except DomainError as exc:
            _domain_abort(exc)
