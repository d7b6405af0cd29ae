"""Rate limits on everything that checks a credential or sends mail to an address."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from core.extensions import limiter


def _ip_limit() -> str:
    return current_app.config["LIMIT_AUTH_PER_IP"]


def _account_limit() -> str:
    return current_app.config["LIMIT_AUTH_PER_ACCOUNT"]


def account_key() -> str:
    """The account an attempt is about: the email sent, the signed-in person, or the link."""
    email = request.form.get("email")
    if email is None and request.is_json:
        payload = request.get_json(silent=True)
        email = payload.get("email") if isinstance(payload, dict) else None
    if not email and getattr(current_user, "is_authenticated", False):
        email = current_user.email
    if not email and request.view_args:
        email = request.view_args.get("token", "")
    return f"account:{str(email or '').strip().lower()}"


def limit_auth(view):
    """Limit POSTs per IP and per account; the budgets are shared by all such endpoints,
    so trying passwords on the login page and the API token endpoint adds up."""
    view = limiter.shared_limit(_account_limit, scope="auth-account", key_func=account_key, methods=["POST"])(
        view
    )
    return limiter.shared_limit(_ip_limit, scope="auth-ip", methods=["POST"])(view)
