"""Locale and time-zone selection, and locale-aware formatting for templates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_location
from flask import current_app, has_request_context, request, session
from flask_babel import format_date, format_datetime, format_time, get_locale, get_timezone
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from core.choices import LOCALES
from core.timeutil import is_valid_timezone, mexican_timezones, to_zone, utcnow

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
    if fmt == "medium":
        # The medium date with the time to the minute ("7 dic 2026, 1:02 p.m."): CLDR's
        # medium time carries seconds, which nobody reading a page needs.
        text = (
            get_locale()
            .datetime_formats["medium"]
            .format(format_time(local, "short", rebase=False), format_date(local, "medium", rebase=False))
        )
    else:
        text = format_datetime(local, fmt, rebase=False)
    return text + " " + local.strftime("%Z")


def current_locale_code() -> str:
    """The active locale as a string (`es_MX`, `en`)."""
    return str(get_locale())


def html_lang() -> str:
    """The value for `<html lang>` (`es-MX`, `en`)."""
    return current_locale_code().replace("_", "-")


def format_day(value: date | datetime | str | None, fmt: str = "long") -> str:
    """A calendar date in the locale: "19 de diciembre de 2026", "December 19, 2026".

    Accepts a date, a datetime (its date as stored) or an ISO string (email contexts keep
    dates as strings); empty for None or ''.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    elif isinstance(value, datetime):
        value = value.date()
    return format_date(value, fmt)


def timezone_city(zone: str | None) -> str:
    """A time zone by its city, in the locale: "Ciudad de México" / "Mexico City", never
    the IANA id (UTC stays "UTC"; an unknown name is returned as given)."""
    if not zone:
        return ""
    if zone == "UTC" or not is_valid_timezone(zone):
        return zone
    return get_timezone_location(zone, locale=str(get_locale()), return_city=True)


def utc_offset_label(zone: str, when: datetime | None = None) -> str:
    """The zone's offset from UTC at `when` (default now): "UTC−6", "UTC−3:30", "UTC"."""
    offset = (when or utcnow()).astimezone(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def timezone_label(zone: str, when: datetime | None = None) -> str:
    """City and current offset, for choice lists: "Ciudad de México (UTC−6)"."""
    if zone == "UTC":
        return "UTC"
    return f"{timezone_city(zone)} ({utc_offset_label(zone, when)})"


def timezone_choices() -> list[SelectChoice]:
    """The Mexican zones by city and offset: Mexico City first (most of the country), the
    others west to east and alphabetically, then UTC."""
    now = utcnow()
    zones = sorted(
        mexican_timezones(),
        key=lambda zone: (
            zone != "America/Mexico_City",
            now.astimezone(ZoneInfo(zone)).utcoffset(),
            timezone_city(zone),
        ),
    )
    return [SelectChoice(zone, timezone_label(zone, now)) for zone in zones] + [SelectChoice("UTC", "UTC")]
