"""Time helpers: store UTC, show in the object's zone (and the viewer's)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware column that always hands back aware UTC datetimes.

    PostgreSQL keeps the zone; SQLite drops it, so values read back are marked UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_ZONES: frozenset[str] | None = None


def is_valid_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows."""
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return name in _ZONES


def mexican_timezones() -> list[str]:
    """The IANA zones used in Mexico, first in any time-zone choice list."""
    return [
        "America/Mexico_City",
        "America/Cancun",
        "America/Merida",
        "America/Monterrey",
        "America/Matamoros",
        "America/Chihuahua",
        "America/Ciudad_Juarez",
        "America/Ojinaga",
        "America/Mazatlan",
        "America/Bahia_Banderas",
        "America/Hermosillo",
        "America/Tijuana",
    ]


def to_zone(value: datetime, zone: str) -> datetime:
    """Convert an aware datetime to the named IANA zone."""
    return value.astimezone(ZoneInfo(zone))
