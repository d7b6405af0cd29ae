"""Rate limit on organisers' messages to everyone at an event: shared by the page and the API."""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_login import current_user

from core.extensions import limiter


def _message_limit() -> str:
    return current_app.config.get("LIMIT_EVENT_MESSAGES", "10 per hour;30 per day")


def organiser_limit_key() -> str:
    """Per organiser account (their token's digest on the API)."""
    header = request.headers.get("Authorization", "")
    if header:
        return "token:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


def _not_sending() -> bool:
    """A preview costs nothing; only sending counts against the limit."""
    if request.is_json:
        payload = request.get_json(silent=True)
        return isinstance(payload, dict) and payload.get("preview") is True
    return "send" not in request.form


def limit_messages(view):
    """Sending to everyone at an event: a shared budget per organiser (page and API)."""
    return limiter.shared_limit(
        _message_limit,
        scope="event-messages",
        key_func=organiser_limit_key,
        methods=["POST"],
        exempt_when=_not_sending,
    )(view)
