"""iCalendar artefacts of events, built by pure functions (icalendar 7).

The same functions serve the confirmation email (`METHOD:REQUEST`), the cancellation
email (`METHOD:CANCEL`) and the calendar feeds: a stable UID per event
(`event-<id>@<host of BASE_URL>`), `SEQUENCE` from the event's `sequence` column, and
a `VTIMEZONE` for every zone used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, vCalAddress, vText
from icalendar import Event as VEvent

from core.timeutil import to_zone
from events.models import Event, EventFormat, EventStatus

PRODID = "-//Promueve//Eventos//ES"


@dataclass(frozen=True)
class Attendee:
    """Who a `METHOD:REQUEST` invitation is addressed to."""

    email: str
    name: str = ""


def host_of(base_url: str) -> str:
    """The host part of BASE_URL, used in UIDs (`promueve.example.gob.mx`)."""
    return urlsplit(base_url).hostname or "promueve"


def event_uid(event_id: int, host: str) -> str:
    """The UID of an event in every calendar artefact; never changes."""
    return f"event-{event_id}@{host}"


def location_text(event: Event, *, include_online_url: bool) -> str:
    """LOCATION: venue and address, and/or the online link (or just 'En línea')."""
    parts = [part for part in (event.venue, event.address) if part]
    if event.state_if_missing:
        parts.append(event.state_if_missing)
    if event.format in (EventFormat.online, EventFormat.hybrid):
        parts.append(event.online_url if include_online_url and event.online_url else "En línea / Online")
    return ", ".join(parts)


@lru_cache(maxsize=64)
def _vtimezone_ical(zone: str, first_year: int, last_year: int) -> bytes:
    # Clamp, so one absurd stored date can never make a whole feed fail.
    first_year = min(max(first_year, 1970), 9000)
    last_year = min(max(last_year, first_year + 1), 9001)
    return Timezone.from_tzid(
        zone, first_date=date(first_year, 1, 1), last_date=date(last_year, 1, 1)
    ).to_ical()


def vtimezone(zone: str, first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE for `zone` covering the given years (cached: building one is slow)."""
    return Timezone.from_ical(_vtimezone_ical(zone, first_year, last_year + 1))


def build_vevent(
    event: Event,
    *,
    host: str,
    url: str,
    organizer_email: str,
    include_online_url: bool = False,
    attendee: Attendee | None = None,
    cancelled: bool | None = None,
    category: str | None = None,
) -> VEvent:
    """The VEVENT of an event (times in the event's zone, with TZID)."""
    vevent = VEvent()
    vevent.add("uid", event_uid(event.id, host))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", (event.updated_at or event.created_at).astimezone(UTC))
    if event.created_at:
        vevent.add("created", event.created_at.astimezone(UTC))
    if event.updated_at:
        vevent.add("last-modified", event.updated_at.astimezone(UTC))
    vevent.add("dtstart", to_zone(event.starts_at, event.timezone))
    vevent.add("dtend", to_zone(event.ends_at, event.timezone))
    vevent.add("summary", event.title)
    description = [event.summary or "", url]
    if include_online_url and event.online_url:
        description.append(event.online_url)
    vevent.add("description", "\n\n".join(part for part in description if part))
    vevent.add("url", url)
    location = location_text(event, include_online_url=include_online_url)
    if location:
        vevent.add("location", location)
    if event.latitude is not None and event.longitude is not None:
        vevent.add("geo", (event.latitude, event.longitude))
    # CATEGORIES in words ("Mesa de diálogo"), as calendar apps show them to people.
    vevent.add("categories", [category or str(event.kind)])
    is_cancelled = event.status == EventStatus.cancelled if cancelled is None else cancelled
    if is_cancelled:
        vevent.add("status", "CANCELLED")
    elif event.status == EventStatus.draft:
        vevent.add("status", "TENTATIVE")
    else:
        vevent.add("status", "CONFIRMED")
    organizer = vCalAddress(f"mailto:{organizer_email}")
    organizer.params["cn"] = vText(event.institution.name)
    vevent.add("organizer", organizer)
    if attendee is not None:
        address = vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["cn"] = vText(attendee.name)
        address.params["role"] = vText("REQ-PARTICIPANT")
        address.params["partstat"] = vText("DECLINED" if is_cancelled else "ACCEPTED")
        address.params["rsvp"] = vText("FALSE")
        vevent.add("attendee", address)
    return vevent


def new_calendar(*, method: str | None = None, name: str | None = None) -> Calendar:
    """An empty VCALENDAR with PRODID, VERSION and optionally METHOD and a name."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("x-wr-calname", name)
        calendar.add("name", name)
    return calendar


def add_timezones(calendar: Calendar, events: Iterable[Event]) -> None:
    """Add one VTIMEZONE per zone the events use, covering their years."""
    years: dict[str, tuple[int, int]] = {}
    for event in events:
        start = to_zone(event.starts_at, event.timezone).year
        end = to_zone(event.ends_at, event.timezone).year
        low, high = years.get(event.timezone, (start, end))
        years[event.timezone] = (min(low, start), max(high, end))
    for zone, (first, last) in sorted(years.items()):
        if zone != "UTC":
            calendar.add_component(vtimezone(zone, first, last))


def event_calendar(
    event: Event,
    *,
    method: str,
    host: str,
    url: str,
    organizer_email: str,
    include_online_url: bool = False,
    attendee: Attendee | None = None,
    category: str | None = None,
) -> bytes:
    """One event as an iTIP message: `REQUEST` (invitation/update) or `CANCEL`."""
    calendar = new_calendar(method=method)
    add_timezones(calendar, [event])
    calendar.add_component(
        build_vevent(
            event,
            host=host,
            url=url,
            organizer_email=organizer_email,
            include_online_url=include_online_url,
            attendee=attendee,
            cancelled=True if method == "CANCEL" else None,
            category=category,
        )
    )
    return calendar.to_ical()


def feed_calendar(
    events: Iterable[Event],
    *,
    host: str,
    url_for_event,
    organizer_email: str,
    name: str,
    include_online_url=lambda event: False,
) -> bytes:
    """A subscribable feed (`METHOD:PUBLISH`) of several events."""
    events = list(events)
    calendar = new_calendar(method="PUBLISH", name=name)
    add_timezones(calendar, events)
    for event in events:
        calendar.add_component(
            build_vevent(
                event,
                host=host,
                url=url_for_event(event),
                organizer_email=organizer_email,
                include_online_url=include_online_url(event),
            )
        )
    return calendar.to_ical()


def utc_stamp(value: datetime) -> str:
    """A compact UTC timestamp for ETags and file names."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- feeds: many events, fast ------------------------------------------------------------
# Building icalendar component objects costs about 0.4 ms per event, so a feed of 1,000
# events would take ~400 ms. Feeds therefore write each VEVENT's content lines directly
# (the same properties as `build_vevent`, which the tests check property by property with
# icalendar and vobject) and take every VTIMEZONE from icalendar.

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class CalendarEntry(NamedTuple):
    """What a VEVENT shows of an event, read straight from one query row (no ORM objects).

    A named tuple: a feed builds one per row, and a tuple is built in one step where a frozen
    dataclass sets each of its 20 fields in turn."""

    id: int
    institution_id: int
    kind: str
    status: str
    format: str
    title: str
    summary: str | None
    venue: str | None
    address: str | None
    state: str | None
    online_url: str | None
    latitude: float | None
    longitude: float | None
    starts_at: datetime
    ends_at: datetime
    timezone: str
    sequence: int
    created_at: datetime | None
    updated_at: datetime | None
    organizer_name: str

    @classmethod
    def from_event(cls, event: Event) -> CalendarEntry:
        """The entry of a loaded Event (its institution is read for ORGANIZER)."""
        return cls(
            **{name: getattr(event, name) for name in CALENDAR_ENTRY_FIELDS},
            organizer_name=event.institution.name,
        )


# The Event columns a CalendarEntry needs, in order (organizer_name comes from Institution).
CALENDAR_ENTRY_FIELDS = tuple(name for name in CalendarEntry._fields if name != "organizer_name")


def escape_text(value: str) -> str:
    """A TEXT value escaped as RFC 5545 §3.3.11 asks (and without control characters)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if not value.isprintable():
        value = _CONTROL_CHARS.sub("", value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _param(value: str) -> str:
    # RFC 6868 for ^, newline and DQUOTE; then always quoted (commas, colons are common in names).
    value = _CONTROL_CHARS.sub("", value.replace("^", "^^").replace("\r\n", "^n").replace("\n", "^n"))
    return '"' + value.replace('"', "^'") + '"'


def fold_line(line: str) -> str:
    """One content line folded at 75 octets (never inside a UTF-8 sequence), with CRLF."""
    if line.isascii():
        if len(line) <= 75:
            return line + "\r\n"
        # One character is one octet: fold by slicing the text (no encode, no decode).
        pieces = [line[:75]]
        pieces.extend(line[start : start + 74] for start in range(75, len(line), 74))
        return "\r\n ".join(pieces) + "\r\n"
    data = line.encode()
    if len(data) <= 75:
        return line + "\r\n"
    chunks = []
    start, limit = 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        chunks.append(data[start:end])
        start, limit = end, 74  # continuation lines start with a space
    return b"\r\n ".join(chunks).decode() + "\r\n"


def _basic(value: datetime) -> str:
    # %-formatting: three times faster than strftime, which matters 5,000 times per feed.
    return "%04d%02d%02dT%02d%02d%02d" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
    )


def _utc(value: datetime) -> str:
    return _basic(value.astimezone(UTC)) + "Z"


def _local(name: str, value: datetime, zone: str) -> str:
    if zone == "UTC":
        return f"{name}:{_utc(value)}\r\n"
    return f"{name};TZID={zone}:{_basic(value.astimezone(ZoneInfo(zone)))}\r\n"


def entry_location(entry: CalendarEntry, *, include_online_url: bool) -> str:
    """LOCATION of an entry: venue and address, and/or the online link (or just 'online')."""
    parts = [part for part in (entry.venue, entry.address) if part]
    if entry.state and entry.address and entry.state not in entry.address:
        parts.append(entry.state)
    if entry.format in (EventFormat.online, EventFormat.hybrid):
        parts.append(entry.online_url if include_online_url and entry.online_url else "En línea / Online")
    return ", ".join(parts)


def vevent_text(
    entry: CalendarEntry,
    *,
    host: str,
    url: str,
    organizer_email: str,
    include_online_url: bool = False,
    note: str | None = None,
    category: str | None = None,
    tentative: bool = False,
) -> str:
    """The VEVENT of one entry as folded content lines; `note` opens the DESCRIPTION.

    `tentative` marks a person's own copy of an event they are only waitlisted for.
    """
    # Lines that are short ASCII by construction skip folding; text lines are folded.
    created = _utc(entry.created_at) if entry.created_at is not None else None
    updated = _utc(entry.updated_at) if entry.updated_at is not None else None
    parts = [
        "BEGIN:VEVENT\r\n",
        fold_line(f"UID:{event_uid(entry.id, host)}"),
        f"SEQUENCE:{entry.sequence}\r\n",
    ]
    if updated or created:
        parts.append(f"DTSTAMP:{updated or created}\r\n")
    if created:
        parts.append(f"CREATED:{created}\r\n")
    if updated:
        parts.append(f"LAST-MODIFIED:{updated}\r\n")
    parts.append(_local("DTSTART", entry.starts_at, entry.timezone))
    parts.append(_local("DTEND", entry.ends_at, entry.timezone))
    parts.append(fold_line(f"SUMMARY:{escape_text(entry.title)}"))
    description = [note or "", entry.summary or "", url]
    if include_online_url and entry.online_url:
        description.append(entry.online_url)
    parts.append(fold_line("DESCRIPTION:" + "\\n\\n".join(escape_text(p) for p in description if p)))
    parts.append(fold_line(f"URL:{url}"))
    location = entry_location(entry, include_online_url=include_online_url)
    if location:
        parts.append(fold_line(f"LOCATION:{escape_text(location)}"))
    if entry.latitude is not None and entry.longitude is not None:
        parts.append(f"GEO:{float(entry.latitude)};{float(entry.longitude)}\r\n")
    parts.append(fold_line(f"CATEGORIES:{escape_text(category or str(entry.kind))}"))
    if entry.status == EventStatus.cancelled:
        parts.append("STATUS:CANCELLED\r\n")
    elif entry.status == EventStatus.draft or tentative:
        parts.append("STATUS:TENTATIVE\r\n")
    else:
        parts.append("STATUS:CONFIRMED\r\n")
    parts.append(fold_line(f"ORGANIZER;CN={_param(entry.organizer_name)}:mailto:{organizer_email}"))
    parts.append("END:VEVENT\r\n")
    return "".join(parts)


def vtimezones_text(entries: Iterable[CalendarEntry]) -> str:
    """One VTIMEZONE (built by icalendar, cached) per zone the entries use, covering their years."""
    years: dict[str, tuple[int, int]] = {}
    for entry in entries:
        if entry.timezone == "UTC":
            continue
        zone = ZoneInfo(entry.timezone)
        start, end = entry.starts_at.astimezone(zone).year, entry.ends_at.astimezone(zone).year
        low, high = years.get(entry.timezone, (start, end))
        years[entry.timezone] = (min(low, start), max(high, end))
    return "".join(
        _vtimezone_ical(zone, first, last + 1).decode() for zone, (first, last) in sorted(years.items())
    )


def feed_ics(
    entries: Iterable[CalendarEntry],
    *,
    host: str,
    url_for_entry: Callable[[CalendarEntry], str],
    organizer_email: str,
    name: str,
    include_online_url: Callable[[CalendarEntry], bool] = lambda entry: False,
    note_for: Callable[[CalendarEntry], str | None] = lambda entry: None,
    category_for: Callable[[str], str] = str,
    tentative_for: Callable[[CalendarEntry], bool] = lambda entry: False,
) -> bytes:
    """A subscribable `METHOD:PUBLISH` calendar of many events, built in one pass."""
    entries = list(entries)
    head = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"NAME:{escape_text(name)}",
    ]
    parts = [fold_line(line) for line in head]
    parts.append(vtimezones_text(entries))
    categories: dict[str, str] = {}
    parts.extend(
        vevent_text(
            entry,
            host=host,
            url=url_for_entry(entry),
            organizer_email=organizer_email,
            include_online_url=include_online_url(entry),
            note=note_for(entry),
            category=categories.get(entry.kind)
            or categories.setdefault(entry.kind, category_for(entry.kind)),
            tentative=tentative_for(entry),
        )
        for entry in entries
    )
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts).encode()
