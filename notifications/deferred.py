"""Messages rendered at send time.

The outbox row of such a message keeps its kind, recipient, locale and the ids its
renderer needs (`render_refs`, e.g. ``{"registration": 12}``); the mail worker renders the
subject, text, HTML and attachments just before sending, with what is true then (a moved
event's confirmation carries the new time), and stores the subject and bodies it sent.
Every other outbox promise stays: one row per message, a unique dedupe key, a fixed
Message-ID, written in the caller's transaction, published after commit.

Messages whose content must be frozen when written (a password reset link) keep the
already-rendered path (`notify`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import force_locale

from core.extensions import db
from core.models import User
from core.validation import one_line


@dataclass
class RenderedMessage:
    """What a renderer wants sent for a stored message.

    `subject` (a lazy string or text), `template` (``<template>.txt`` and ``.html``) and
    `context` become the email; `attachments` as `notify(attachments=…)`. A renderer
    returning `RenderedMessage.skip(reason)` (or None) withholds the message: what it
    announced is no longer true (the registration was erased, say).
    """

    subject: Any = ""
    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, str]] | None = None
    useful: bool = True
    skip_reason: str = ""

    @classmethod
    def skip(cls, reason: str) -> RenderedMessage:
        """A message no longer worth sending."""
        return cls(useful=False, skip_reason=reason)


MessageRenderer = Callable[[Mapping[str, Any], "User | None"], "RenderedMessage | None"]
_RENDERERS: dict[str, MessageRenderer] = {}


def register_message_renderer(kind: str, renderer: MessageRenderer) -> None:
    """Say how to render stored messages of `kind` at send time (domains, at import)."""
    _RENDERERS[kind] = renderer


def has_renderer(kind: str) -> bool:
    return kind in _RENDERERS


@dataclass
class Rendered:
    """A stored message rendered now: what goes out (or why nothing does)."""

    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    attachments: list[dict[str, str]] | None = None
    skip_reason: str | None = None


def render_stored(row: Any) -> Rendered:
    """Render an outbox row kept as refs (`row`: a Notification or a row with its columns).

    Raises whatever the renderer raises: the caller treats it as a temporary failure.
    """
    from notifications.services.rendering import _render_email as render_email

    renderer = _RENDERERS.get(row.kind)
    if renderer is None:
        raise LookupError(f"no message renderer registered for {row.kind!r}")
    user = db.session.get(User, row.user_id) if row.user_id is not None else None
    locale = row.locale or current_app.config["DEFAULT_LOCALE"]
    with force_locale(locale):
        message = renderer(dict(row.render_refs or {}), user)
        if message is None or not message.useful:
            return Rendered(skip_reason=(message.skip_reason if message else "") or "no longer useful")
        attachments = list(message.attachments) if message.attachments else None
    subject, text, html = render_email(
        message.template,
        subject=message.subject,
        locale=locale,
        timezone=(user.timezone if user is not None else None) or current_app.config["DEFAULT_TIMEZONE"],
        name=row.to_name,
        email=row.to_email,
        context=message.context,
        category=row.category,
        unsubscribe_url=row.unsubscribe_url,
    )
    return Rendered(subject=one_line(subject)[:300], body_text=text, body_html=html, attachments=attachments)


def preview_stored(row: Any) -> tuple[Rendered | None, str | None]:
    """What an admin sees of a message not yet rendered for sending: it rendered now (as
    it would go out now), or the reason it cannot be (the error, or why it would be skipped)."""
    try:
        rendered = render_stored(row)
    except Exception as exc:  # noqa: BLE001 - shown to the admin, as the worker records it
        return None, f"{type(exc).__name__}: {exc}"
    if rendered.skip_reason is not None:
        return None, rendered.skip_reason
    return rendered, None
