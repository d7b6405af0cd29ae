"""JSON API of the private calendar feed link (thin: `events.feed_services` does the work)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_babel import gettext as _

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.exceptions import DomainError
from core.models import User
from events import feed_services

blp = ApiBlueprint(
    "calendars_api",
    __name__,
    description="The signed-in person's private calendar feed link (revocable).",
)
SECURED = [{"bearerAuth": []}]


class CalendarFeedSchema(ma.Schema):
    active = ma.fields.Boolean()
    url = ma.fields.String(
        allow_none=True, metadata={"description": "https address of /calendar/<token>.ics (secret)."}
    )
    webcal_url = ma.fields.String(allow_none=True, metadata={"description": "The same, as webcal://."})
    created_at = ma.fields.DateTime(allow_none=True)
    last_used_at = ma.fields.DateTime(allow_none=True)


def _feed(user: User) -> dict[str, Any]:
    token = feed_services.active_feed_token(user)
    raw = feed_services.shown_token(token) if token is not None else None
    return {
        "active": token is not None,
        "url": feed_services.feed_url(raw) if raw else None,
        "webcal_url": feed_services.webcal_url(raw) if raw else None,
        "created_at": token.created_at if token else None,
        "last_used_at": token.last_used_at if token else None,
    }


@blp.route("/me/calendar-feed")
class CalendarFeed(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, CalendarFeedSchema)
    @auth_required
    def get(self):
        """My private calendar link (`active: false` when I have none)."""
        return _feed(api_user())

    @blp.doc(security=SECURED)
    @blp.response(201, CalendarFeedSchema)
    @auth_required
    def post(self):
        """Create my link, or replace it (the previous link stops working)."""
        try:
            feed_services.issue_feed_token(api_user())
        except DomainError as exc:
            api_abort(exc.status, str(exc.message), code=exc.code)
        return _feed(api_user())

    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self):
        """Turn my link off (404 when there is none)."""
        if not feed_services.revoke_feed_token(api_user()):
            api_abort(404, _("No tienes un enlace de calendario activo."))
