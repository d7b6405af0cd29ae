"""Finding events by words: accent-insensitive, Spanish full-text search on PostgreSQL.

Each event keeps `search_text`: its title, summary, topics and institution, casefolded and
stripped of accents, so "acuiferos" finds "Acuíferos". PostgreSQL matches it with the Spanish
text-search configuration (stems: "mesas" finds "mesa"), served by a GIN index; SQLite, the
embedded default, falls back to every word as a substring.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, select

from accounts.services import institution_updated
from core.extensions import db
from core.timeutil import utcnow
from events.models import Event

MAX_QUERY_LENGTH = 200


def fold(text: str) -> str:
    """Casefolded, without accents or control characters, single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch.isprintable())
    return " ".join(kept.split())


def search_text_for(event: Event) -> str:
    """What a search looks through for one event."""
    institution = event.institution
    parts: list[Any] = [event.title, event.summary, " ".join(event.topics or [])]
    if institution is not None:
        parts += [institution.name, institution.acronym]
    return fold(" ".join(str(p) for p in parts if p))


def refresh_institution(institution: Any, changed: list[str] = (), **_: Any) -> None:
    """After an institution's name or acronym changed: its events' search text, and their
    `updated_at`, which the calendar feeds' ETags follow."""
    if not {"name", "acronym"} & set(changed):
        return
    now = utcnow()
    events = db.session.execute(select(Event).where(Event.institution_id == institution.id)).scalars()
    for event in events:
        event.search_text = search_text_for(event)
        event.updated_at = now  # its pages and calendar entries name the institution: new ETags


def connect_search() -> None:
    """Keep events' search text in step with their institution (called once by the app factory)."""
    institution_updated.connect(refresh_institution, weak=False)


def _spanish_vector():
    return func.to_tsvector(literal_column("'spanish'::regconfig"), Event.search_text)


def matches(query: str) -> ColumnElement[bool] | None:
    """The condition for events matching `query` (None when the query has no words)."""
    words = fold(query[:MAX_QUERY_LENGTH]).split()
    if not words:
        return None
    if db.engine.dialect.name == "postgresql":
        tsquery = func.plainto_tsquery(literal_column("'spanish'::regconfig"), " ".join(words))
        return _spanish_vector().op("@@")(tsquery)
    return and_(*(Event.search_text.contains(word, autoescape=True) for word in words))
