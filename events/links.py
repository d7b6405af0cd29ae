"""Links that add an event to web calendars (Google, Outlook) and describe it to link previews."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from events.models import Event


def _location(event: Event) -> str:
    # The online link is for confirmed people only: never put it in a public link.
    return ", ".join(p for p in (event.venue, event.address, event.state_if_missing) if p)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def google_calendar_url(event: Event, page_url: str) -> str:
    """Google Calendar's "create event" template, prefilled (times in UTC, basic format)."""
    dates = "/".join(_utc(v).strftime("%Y%m%dT%H%M%SZ") for v in (event.starts_at, event.ends_at))
    query = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": dates,
        "details": f"{event.summary}\n\n{page_url}".strip(),
        "location": _location(event),
        "ctz": event.timezone,
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_calendar_url(event: Event, page_url: str) -> str:
    """Outlook on the web's compose deep link, prefilled (ISO times in UTC)."""
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": event.title,
        "startdt": _utc(event.starts_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "enddt": _utc(event.ends_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": f"{event.summary}\n\n{page_url}".strip(),
        "location": _location(event),
    }
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(query)


def meta_description(event: Event, limit: int = 200) -> str:
    """A one-paragraph plain-text description for search engines and link previews."""
    text = event.summary or " ".join((event.description or "").split())
    text = " ".join(text.replace("#", " ").replace("*", " ").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
