"""Rate limit on answering (answer sets, votes, ideas): per person, shared by page and API."""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_login import current_user

from core.extensions import limiter


def _limit() -> str:
    return current_app.config.get("LIMIT_SURVEY_SUBMISSIONS", "30 per minute;300 per hour")


def respondent_limit_key() -> str:
    """The bearer token's digest, the signed-in account, or else the address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "token:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


def limit_submissions(view):
    """Limit PUT/POST/DELETE of answers per person (GETs are free)."""
    return limiter.shared_limit(
        _limit, scope="survey-submit", key_func=respondent_limit_key, methods=["PUT", "POST", "DELETE"]
    )(view)
