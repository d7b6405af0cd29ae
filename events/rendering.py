"""User-written Markdown to safe HTML (markdown-it-py, then nh3)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import nh3
from babel.dates import format_date, format_time
from flask_babel import get_locale
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup

from core.images import MEDIA_PATH
from core.timeutil import to_zone

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "pre",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}, "img": {"src", "alt", "loading"}}


def _render_image(self, tokens, idx, options, env) -> str:
    """Only our own uploads (/media/…) with a text alternative become pictures; any other
    image reference shows as its alt text."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env).strip()
    src = str(token.attrGet("src") or "")
    if not alt or MEDIA_PATH.match(src) is None:
        return escapeHtml(alt)
    return f'<img src="{escapeHtml(src)}" alt="{escapeHtml(alt)}" loading="lazy">'


def _only_our_media(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and MEDIA_PATH.match(value) is None:
        return None
    return value


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # No raw HTML: what people type is text or Markdown, never markup.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    parser.add_render_rule("image", _render_image)
    return parser


def markdown_to_html(source: str | None) -> Markup:
    """Render Markdown and keep only harmless tags; headings start at h3 under the page's h2."""
    if not source:
        return Markup("")
    html = _parser().render(source)
    for level in (1, 2):
        html = html.replace(f"<h{level}>", "<h3>").replace(f"</h{level}>", "</h3>")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_only_our_media,
    )
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 just above


def event_time(value: datetime, zone: str, *, with_date: bool = True) -> str:
    """A moment in the event's zone, in the current locale, without seconds:
    "miércoles, 9 de diciembre de 2026, 9:00 a.m. CST"."""
    local = to_zone(value, zone)
    locale = get_locale()
    clock = f"{format_time(local, 'short', locale=locale)} {local:%Z}"
    if not with_date:
        return clock
    return f"{format_date(local, 'full', locale=locale)}, {clock}"


def event_span(start: datetime, end: datetime, zone: str) -> str:
    """Start and end in the event's zone; the end date only when it differs."""
    first, last = to_zone(start, zone), to_zone(end, zone)
    if first.date() == last.date():
        locale = get_locale()
        return (
            f"{format_date(first, 'full', locale=locale)}, {format_time(first, 'short', locale=locale)} – "
            f"{format_time(last, 'short', locale=locale)} {last:%Z}"
        )
    return f"{event_time(start, zone)} – {event_time(end, zone)}"


def event_date(value: datetime, zone: str) -> str:
    """A date in the event's zone: "9 de diciembre de 2026"."""
    return format_date(to_zone(value, zone), "long", locale=get_locale())


def spans_days(start: datetime, end: datetime, zone: str) -> bool:
    """Whether an event ends on another local day than it starts."""
    return to_zone(start, zone).date() != to_zone(end, zone).date()
