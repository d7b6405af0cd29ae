"""Rate limits per person (not per address), shared by a domain's pages and its API.

A person is the account of the bearer token, else the signed-in account, else (anonymous
requests) the address. Flask-Limiter counts on Redis, so every worker shares one budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import current_app, request
from flask_login import current_user

from core.api import api_user
from core.extensions import limiter


def person_key() -> str:
    """Who spends the budget: the token's account, the session's account, or the address."""
    if request.headers.get("Authorization"):
        try:
            user = api_user()
        except Exception:  # noqa: BLE001 - a bad token is answered 401 by the view itself
            user = None
        if user is not None:
            return f"user:{user.id}"
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


def limit_per_person(setting: str, default: str, scope: str, methods: Iterable[str] = ("POST",)) -> Callable:
    """A decorator for a view (or a MethodView's `decorators`): at most the limit in config
    `setting` (default `default`) per person, one budget for every view sharing `scope`."""

    def limit() -> str:
        return current_app.config.get(setting, default)

    def decorate(view):
        return limiter.shared_limit(limit, scope=scope, key_func=person_key, methods=list(methods))(view)

    return decorate
