"""Comments' Markdown subset to safe HTML (markdown-it-py, then nh3), and the SVG charts."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

# Comments are conversation, not documents: no headings, tables or images.
ALLOWED_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "pre"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # No raw HTML, no headings, tables or images: plain text with emphasis, lists, links, code.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).disable(
        ["heading", "lheading", "image", "html_block", "html_inline"]
    )


def comment_html(source: str | None) -> Markup:
    """A comment's text as sanitised HTML."""
    if not source:
        return Markup("")
    cleaned = nh3.clean(
        _parser().render(source),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow ugc",
    )
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 just above


def bar_chart(
    rows: list[tuple[str, int | None]], *, title: str, width: int = 560, bar_height: int = 22
) -> Markup:
    """A horizontal bar chart as inline SVG (role img, a title naming every value).

    A value of None (a suppressed cell) is drawn as an empty, dashed bar.
    """
    label_width = 200
    plot = width - label_width - 60
    highest = max([value for _, value in rows if value] or [1])
    height = bar_height * len(rows) + 10
    summary = "; ".join(f"{label} {('<5' if value is None else value)}" for label, value in rows)
    text_alternative = str(escape(f"{title}: {summary}"))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" class="chart" aria-label="{text_alternative}">',
        f"<title>{text_alternative}</title>",
    ]
    for index, (label, value) in enumerate(rows):
        y = 5 + index * bar_height
        text_label = str(label) if len(str(label)) <= 30 else str(label)[:29] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height * 0.65:.1f}" text-anchor="end" '
            f'font-size="12" fill="currentColor">{escape(text_label)}</text>'
        )
        if value is None:
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{plot * 0.05:.1f}" height="{bar_height - 6}" '
                'fill="none" stroke="currentColor" stroke-dasharray="3 2"/>'
            )
            shown = "&lt;5"
            end = label_width + plot * 0.05
        else:
            length = plot * value / highest if highest else 0
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{bar_height - 6}" '
                'fill="#611232"/>'
            )
            shown = str(value)
            end = label_width + length
        parts.append(
            f'<text x="{end + 4:.1f}" y="{y + bar_height * 0.65:.1f}" font-size="12" '
            f'fill="currentColor">{shown}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part is escaped above


def line_chart(points: list[tuple[str, int]], *, title: str, width: int = 560, height: int = 160) -> Markup:
    """Signals per day as an inline SVG polyline with a title summarising the series."""
    if not points:
        return Markup("")
    highest = max([value for _, value in points] + [1])
    step = (width - 40) / max(len(points) - 1, 1)
    coords = " ".join(
        f"{20 + index * step:.1f},{height - 20 - (height - 40) * value / highest:.1f}"
        for index, (_, value) in enumerate(points)
    )
    total = sum(value for _, value in points)
    summary = f"{title}: {points[0][0]} – {points[-1][0]}, {total}; max {highest}"
    return Markup(  # noqa: S704 - escaped parts only
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'class="chart" aria-label="{escape(summary)}"><title>{escape(summary)}</title>'
        f'<line x1="20" y1="{height - 20}" x2="{width - 20}" y2="{height - 20}" stroke="currentColor"/>'
        f'<polyline points="{coords}" fill="none" stroke="#611232" stroke-width="2"/>'
        f'<text x="20" y="{height - 4}" font-size="11" fill="currentColor">{escape(points[0][0])}</text>'
        f'<text x="{width - 20}" y="{height - 4}" font-size="11" text-anchor="end" fill="currentColor">'
        f"{escape(points[-1][0])}</text>"
        f'<text x="20" y="14" font-size="11" fill="currentColor">{highest}</text></svg>'
    )
