"""Locale and time-zone selection, and locale-aware formatting for templates."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, has_request_context, request, session
from flask_babel import format_datetime, get_locale, get_timezone
from flask_login import current_user

from core.choices import LOCALES
from core.timeutil import is_valid_timezone, to_zone

SESSION_LOCALE_KEY = "locale"


def normalise_locale(value: str | None) -> str | None:
    """Map `es`, `es-MX`, `en-US`… to a locale we ship, or None."""
    if not value:
        return None
    value = value.replace("-", "_")
    if value in LOCALES:
        return value
    language = value.split("_")[0].lower()
    if language == "es":
        return "es_MX"
    if language == "en":
        return "en"
    return None


def select_locale() -> str:
    """Profile locale, then the visitor's choice, then Accept-Language, then default."""
    default = current_app.config["DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return current_user.locale
    chosen = normalise_locale(session.get(SESSION_LOCALE_KEY))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["es_MX", "es", "en"], default=None)
    return normalise_locale(best) or default


def select_timezone() -> str:
    """The viewer's zone when signed in, else the platform default."""
    if (
        has_request_context()
        and getattr(current_user, "is_authenticated", False)
        and is_valid_timezone(current_user.timezone or "")
    ):
        return current_user.timezone
    return current_app.config["DEFAULT_TIMEZONE"]


def format_in_zone(value: datetime | None, zone: str | None = None, fmt: str = "medium") -> str:
    """Format an aware datetime in `zone` (default: the viewer's), in the locale."""
    if value is None:
        return ""
    zone = zone or str(get_timezone())
    local = to_zone(value, zone)
    # Flask-Babel would convert again to the viewer zone; hand it the zone we chose.
    return format_datetime(local, fmt, rebase=False) + " " + local.strftime("%Z")


def current_locale_code() -> str:
    """The active locale as a string (`es_MX`, `en`)."""
    return str(get_locale())


def html_lang() -> str:
    """The value for `<html lang>` (`es-MX`, `en`)."""
    return current_locale_code().replace("_", "-")
