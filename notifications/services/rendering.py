"""Rendering an email in the recipient's language and time zone; within a ledger batch, a
template that only prints the recipient's values is rendered once with placeholders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from markupsafe import escape

from core.extensions import db
from core.urls import external_url
from core.validation import one_line
from notifications.models import Category
from notifications.services.common import CATEGORY_LABELS


def _render_email(
    template: str,
    *,
    subject: Any,
    locale: str,
    timezone: str,
    name: str,
    email: str,
    context: Mapping[str, Any],
    category: str | None,
    unsubscribe_url: str,
) -> tuple[str, str, str]:
    values: dict[str, Any] = {
        "recipient_name": name,
        "recipient_email": email,
        "tz": timezone,
        "category": category,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": external_url("notifications.preferences") if category else "",
        **context,
    }
    with force_locale(locale):
        # A line break in a stored title would make the Subject header unbuildable.
        rendered_subject = one_line(subject)
        values["subject"] = rendered_subject
        if category in CATEGORY_LABELS:
            values.setdefault("category_label", str(CATEGORY_LABELS[Category(category)]))
        memo = db.session.info.get(_RENDER_MEMO_KEY)
        if memo is not None and name and email and _renders_recipient_plainly(template):
            body_text, body_html = _render_with_slots(memo, template, values, name, email, unsubscribe_url)
        else:
            body_text = render_template(f"{template}.txt", **values)
            body_html = render_template(f"{template}.html", **values)
    return rendered_subject[:300], body_text, body_html


# A fan-out renders the same template with the same context for thousands of people;
# only the recipient's name, address and unsubscribe link differ. Within a ledger
# batch the bodies are rendered once with placeholders and the recipient filled in
# (escaped for HTML) -- for templates that only print those values or test them.
_RENDER_MEMO_KEY = "promueve_render_memo"
_SLOTS = {
    "recipient_name": "\ue000name\ue001",
    "recipient_email": "\ue000email\ue001",
    "unsubscribe_url": "\ue000unsubscribe\ue001",
}
_PLAIN_USES: dict[str, bool] = {}


def _render_with_slots(
    memo: dict, template: str, values: dict[str, Any], name: str, email: str, unsubscribe_url: str
) -> tuple[str, str]:
    fixed = {k: v for k, v in values.items() if k not in _SLOTS}
    try:
        key = (template, str(get_locale()), repr(sorted(fixed.items())), bool(unsubscribe_url))
    except TypeError:
        key = None
    rendered = memo.get(key) if key is not None else None
    if rendered is None:
        slots = dict(_SLOTS)
        if not unsubscribe_url:
            slots["unsubscribe_url"] = ""
        rendered = (
            render_template(f"{template}.txt", **fixed, **slots),
            render_template(f"{template}.html", **fixed, **slots),
        )
        if key is not None:
            memo[key] = rendered
    text, html = rendered
    for slot, value in (
        ("recipient_name", name),
        ("recipient_email", email),
        ("unsubscribe_url", unsubscribe_url),
    ):
        sentinel = _SLOTS[slot]
        text = text.replace(sentinel, value)
        html = html.replace(sentinel, str(escape(value)))
    return text, html


def _renders_recipient_plainly(template: str) -> bool:
    """Whether the template (and what it extends or includes) only prints the recipient
    values, passes them to `_()`, or tests them in an `if` -- so placeholders are safe."""
    if template not in _PLAIN_USES:
        _PLAIN_USES[template] = _check_plain_uses(template)
    return _PLAIN_USES[template]


def _check_plain_uses(template: str) -> bool:
    from jinja2 import meta, nodes

    env = current_app.jinja_env
    pending, seen = [f"{template}.txt", f"{template}.html"], set()

    def plain(node, parents) -> bool:
        if isinstance(node, nodes.Name) and node.name in _SLOTS:
            parent = parents[-1] if parents else None
            printed = isinstance(parent, nodes.Output)
            tested = isinstance(parent, nodes.If) and parent.test is node
            translated = (
                isinstance(parent, nodes.Keyword)
                and len(parents) > 1
                and isinstance(parents[-2], nodes.Call)
                and isinstance(parents[-2].node, nodes.Name)
                and parents[-2].node.name in {"_", "gettext", "ngettext"}
            )
            if not (printed or tested or translated):
                return False
        return all(plain(child, [*parents, node]) for child in node.iter_child_nodes())

    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = env.parse(env.loader.get_source(env, name)[0])
        if not plain(tree, []):
            return False
        referenced = list(meta.find_referenced_templates(tree))
        if None in referenced:
            return False
        pending.extend(referenced)
    return True
