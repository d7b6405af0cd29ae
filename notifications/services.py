"""Notifications for every domain: the outbox (`notify`), the reminder ledger
(`schedule`, `cancel_scheduled`, `register_renderer`), preferences, the in-app centre,
digests, unsubscribe, delivery operations and template previews.

Domains call only the public functions here. Functions that write inside the caller's
transaction say so; the others are one unit of work each and commit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import URLSafeTimedSerializer
from markupsafe import escape
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.security import BadLink, unsign
from core.timeutil import is_valid_timezone, utcnow
from core.urls import external_url
from core.validation import one_line
from notifications import delivery
from notifications.delivery import (  # noqa: F401 - the outbox's public names live here too
    SEND_BATCH_TASK,
    SEND_TASK,
    SHORT_RETRY_SECONDS,
    build_message,
    enqueue,
    make_message_id,
    retry_delay,
    send_notification,
    send_notifications,
    sweep_outbox,
    wait_for_send_slot,
)
from notifications.models import (
    Category,
    Channel,
    Digest,
    DigestItem,
    InAppNotification,
    MailboxHealth,
    Notification,
    NotificationPreference,
    NotificationStatus,
    ScheduledNotification,
    ScheduledStatus,
)

log = logging.getLogger(__name__)

UNSUBSCRIBE_PURPOSE = "unsubscribe"
DIGEST_CATEGORY = "digest"
FIRE_TASK = "notifications.fire_reminders"
MAX_RENDER_ATTEMPTS = 3
_PREFS_KEY = "promueve_notification_prefs"
_UNDELIVERABLE_KEY = "promueve_undeliverable"
# Rows added in this transaction, by model and dedupe key; and keys a batch prefetch
# found absent from the database (so no SELECT per message is needed).
_ADDED_KEY = "promueve_added_by_key"
_ABSENT_KEY = "promueve_absent_keys"
# While a ledger batch runs, new rows are collected here and inserted in bulk.
_BULK_KEY = "promueve_bulk_rows"
delivery.CACHE_KEYS.extend([_PREFS_KEY, _UNDELIVERABLE_KEY, _ADDED_KEY, _ABSENT_KEY, _BULK_KEY])

CATEGORY_LABELS = {
    Category.events: _l("Eventos: mesas de diálogo, datatones y colaboraciones"),
    Category.surveys: _l("Encuestas públicas"),
    Category.challenges: _l("Retos públicos"),
    Category.answers: _l("Respuestas a mis solicitudes de datos"),
    Category.institution: _l("El trabajo de mi institución"),
}
CHANNEL_LABELS = {
    Channel.email: _l("Correo de inmediato"),
    Channel.daily: _l("Resumen diario por correo"),
    Channel.weekly: _l("Resumen semanal por correo"),
    Channel.in_app: _l("Solo en Promueve (campana)"),
    Channel.off: _l("No avisarme"),
}
STATUS_LABELS = {
    NotificationStatus.queued: _l("En cola"),
    NotificationStatus.sending: _l("Enviando"),
    NotificationStatus.sent: _l("Enviado"),
    NotificationStatus.failed: _l("Falló"),
    NotificationStatus.withheld: _l("Retenido"),
}


# --- the outbox: notify ------------------------------------------------------


def notify(
    *,
    to: User | str,
    kind: str,
    subject: Any,
    template: str,
    dedupe_key: str,
    context: Mapping[str, Any] | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    category: str | None = None,
    link: str | None = None,
    summary: Any = None,
    in_app: bool | None = None,
    attachments: list[dict[str, str]] | None = None,
    secrets: list[str] | None = None,
) -> Notification | None:
    """Tell a person something, inside the caller's transaction (mail goes after commit).

    `category=None` is transactional (verification, reset, registration confirmation,
    waitlist promotion, cancellation, reschedule, invitation): always emailed, no
    unsubscribe headers. With a category (`Category`), the person's preference decides:
    email now, a daily or weekly digest, the in-app centre only, or nothing; emails then
    carry RFC 8058 unsubscribe headers, and none go to an undeliverable address.
    Non-transactional messages also appear in the in-app centre (`in_app=False` to
    avoid); `link` (a path or a BASE_URL address) is where the in-app entry and digest
    line point, `summary` a one-line text for them. `template` names
    `<template>.txt` and `<template>.html`, rendered with the subject in the recipient's
    locale and time zone. Returns the outbox row, or None when the preferences route the
    message elsewhere. A second call with the same `dedupe_key` changes nothing.
    `attachments` (emails only): `[{"filename", "content_type", "data" (base64),
    optional "content_id" (inline, shown by the HTML as `cid:`) and "method" (iTIP)}]`.
    `secrets` (transactional emails only): values in the message that open something
    (the token of a reset, verification or invitation link). Admin pages never show them,
    and they are removed from the stored message once it is sent.
    """
    row, _outcome = _route(
        to=to,
        kind=kind,
        subject=subject,
        template=template,
        dedupe_key=dedupe_key,
        context=context or {},
        locale=locale,
        timezone=timezone,
        category=category,
        link=link,
        summary=summary,
        in_app=in_app,
        attachments=attachments,
        secrets=secrets,
    )
    return row


def _route(
    *,
    to: User | str,
    kind: str,
    subject: Any,
    template: str,
    dedupe_key: str,
    context: Mapping[str, Any],
    locale: str | None,
    timezone: str | None,
    category: str | None,
    link: str | None,
    summary: Any,
    in_app: bool | None,
    attachments: list[dict[str, str]] | None = None,
    secrets: list[str] | None = None,
) -> tuple[Notification | None, str]:
    existing = _existing(Notification, dedupe_key)
    if existing is not None:
        return existing, "email"
    if secrets and category is not None:
        raise ValueError("only transactional email may carry secrets (never digests or the centre)")
    if category is None:
        row = _add_email(
            to=to,
            kind=kind,
            subject=subject,
            template=template,
            dedupe_key=dedupe_key,
            context=context,
            locale=locale,
            timezone=timezone,
            attachments=attachments,
            secrets=secrets,
        )
        if in_app and isinstance(to, User):
            _add_in_app(to, kind, None, subject, summary, link, f"inapp:{dedupe_key}")
        return row, "email"
    category = Category(category)
    if not isinstance(to, User):
        raise ValueError("a message with a category needs an account (preferences, unsubscribe)")
    user = to
    channel = channel_for(user, category)
    if channel == Channel.off:
        return None, "off"
    if in_app is not False:
        _add_in_app(user, kind, category, subject, summary, link, f"inapp:{dedupe_key}")
    if channel == Channel.in_app:
        return None, "in_app"
    if _is_undeliverable(user.email):
        return None, "undeliverable"
    if channel in (Channel.daily, Channel.weekly):
        _add_digest_item(user, channel, category, kind, subject, summary, link, dedupe_key)
        return None, str(channel)
    row = _add_email(
        to=user,
        kind=kind,
        subject=subject,
        template=template,
        dedupe_key=dedupe_key,
        context=context,
        locale=locale,
        timezone=timezone,
        category=category,
        unsubscribe_categories=[category],
        attachments=attachments,
    )
    return row, "email"


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


def _add_email(
    *,
    to: User | str,
    kind: str,
    subject: Any,
    template: str,
    dedupe_key: str,
    context: Mapping[str, Any],
    locale: str | None,
    timezone: str | None,
    category: str | None = None,
    unsubscribe_categories: list[str] | None = None,
    attachments: list[dict[str, str]] | None = None,
    secrets: list[str] | None = None,
) -> Notification:
    if isinstance(to, User):
        user, email, name = to, to.email, to.name
        locale = locale or to.locale
        timezone = timezone or to.timezone
    else:
        user, email, name = None, to, ""
    locale = locale or current_app.config["DEFAULT_LOCALE"]
    timezone = timezone or current_app.config["DEFAULT_TIMEZONE"]
    unsubscribe_url = ""
    if category is not None and user is not None:
        unsubscribe_url = external_url(
            "notifications.unsubscribe", token=unsubscribe_token(user, unsubscribe_categories or [])
        )
    rendered_subject, body_text, body_html = _render_email(
        template,
        subject=subject,
        locale=locale,
        timezone=timezone,
        name=name,
        email=email,
        context=context,
        category=category,
        unsubscribe_url=unsubscribe_url,
    )
    now = utcnow()
    # Kept (like the bodies holding them) only until the message is sent.
    extra = {"secret_values": [str(value) for value in secrets if value]} if secrets else {}
    row = _new_row(
        Notification,
        user_id=user.id if user is not None else None,
        to_email=email,
        to_name=name,
        kind=kind,
        category=category,
        locale=locale,
        subject=rendered_subject,
        body_text=body_text,
        body_html=body_html,
        unsubscribe_url=unsubscribe_url,
        attachments=list(attachments) if attachments else None,
        dedupe_key=dedupe_key,
        status=NotificationStatus.queued,
        created_at=now,
        enqueued_at=now,
        message_id="",
        **extra,
    )
    row.message_id = make_message_id(row)
    if not _added(row):
        db.session.flush()  # callers may want the id before they commit
        delivery.remember_for_enqueue(row)
    return row


def _existing(model: type, dedupe_key: str) -> Any:
    """The row of `model` with this dedupe key: added in this transaction, or stored.

    No autoflush: rows of a batch are inserted together when it commits.
    """
    added = db.session.info.get(_ADDED_KEY, {}).get(model.__name__, {})
    if dedupe_key in added:
        return added[dedupe_key]
    absent = db.session.info.get(_ABSENT_KEY, {}).get(model.__name__)
    if absent is not None and dedupe_key in absent:
        return None
    with db.session.no_autoflush:
        return db.session.execute(select(model).where(model.dedupe_key == dedupe_key)).scalar_one_or_none()


class _PendingRow:
    """A row a ledger batch will bulk-insert: its values, without ORM bookkeeping."""

    id = None

    def __init__(self, model: type, values: dict[str, Any]):
        self.__dict__.update(values)
        self._model = model

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value


def _new_row(model: type, **values: Any) -> Any:
    """A new row: plain values while a ledger batch collects rows, else an ORM object."""
    if db.session.info.get(_BULK_KEY) is not None:
        return _PendingRow(model, values)
    return model(**values)


def _added(row: Any) -> bool:
    """Add a new row to this transaction; True when a ledger batch will bulk-insert it."""
    bulk = db.session.info.get(_BULK_KEY)
    if bulk is not None:
        bulk.append(row)
    else:
        db.session.add(row)
    if row.dedupe_key is not None:
        model = row._model if isinstance(row, _PendingRow) else type(row)
        db.session.info.setdefault(_ADDED_KEY, {}).setdefault(model.__name__, {})[row.dedupe_key] = row
    return bulk is not None


def _insert_bulk_rows() -> dict[str, int]:
    """Insert the rows a ledger batch collected (executemany: one prepared statement per
    table); returns the new outbox ids by dedupe key, and queues them for sending."""
    rows = db.session.info.pop(_BULK_KEY, [])
    connection = db.session.connection()
    outbox_keys: list[str] = []
    for model in (Notification, InAppNotification, DigestItem):
        table = model.__table__
        groups: dict[frozenset, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            if row._model is model:
                values = {k: v for k, v in vars(row).items() if k in table.c}
                groups[frozenset(values)].append(values)
        for values in groups.values():
            connection.execute(table.insert(), values)
            if model is Notification:
                outbox_keys.extend(value["dedupe_key"] for value in values)
    outbox_ids: dict[str, int] = {}
    if outbox_keys:
        # Looked up rather than RETURNING: a multi-row INSERT … RETURNING is one huge
        # statement the driver re-parses every time; executemany reuses one prepared.
        table = Notification.__table__
        for new_id, key in connection.execute(
            select(table.c.id, table.c.dedupe_key).where(table.c.dedupe_key.in_(outbox_keys))
        ):
            outbox_ids[key] = new_id
        for key in outbox_keys:
            delivery.remember_for_enqueue(outbox_ids[key])
    return outbox_ids


def _prefetch_absent_keys(model: type, keys: list[str]) -> None:
    present = set(db.session.execute(select(model.dedupe_key).where(model.dedupe_key.in_(keys))).scalars())
    db.session.info.setdefault(_ABSENT_KEY, {})[model.__name__] = set(keys) - present


def _site_link(link: str | None) -> str:
    """A same-site path for in-app entries (BASE_URL addresses are shortened)."""
    if not link:
        return ""
    base = current_app.config["BASE_URL"]
    if link.startswith(base + "/"):
        link = link[len(base) :]
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or not link.startswith("/") or link.startswith("//"):
        raise ValueError(f"in-app links stay on this site: {link!r}")
    return link[:500]


def _text_in(user: User, value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""  # already text: no language to choose
    with force_locale(user.locale or current_app.config["DEFAULT_LOCALE"]):
        return str(value)


def _add_in_app(
    user: User,
    kind: str,
    category: str | None,
    title: Any,
    body: Any,
    link: str | None,
    dedupe_key: str | None,
) -> InAppNotification:
    if dedupe_key is not None:
        existing = _existing(InAppNotification, dedupe_key)
        if existing is not None:
            return existing
    item = _new_row(
        InAppNotification,
        user_id=user.id,
        kind=kind,
        category=category,
        title=_text_in(user, title)[:300],
        body=_text_in(user, body)[:1000],
        link=_site_link(link),
        dedupe_key=dedupe_key,
        created_at=utcnow(),
    )
    _added(item)
    return item


def _add_digest_item(
    user: User,
    channel: Channel,
    category: Category,
    kind: str,
    title: Any,
    body: Any,
    link: str | None,
    dedupe_key: str,
) -> DigestItem:
    existing = _existing(DigestItem, dedupe_key)
    if existing is not None:
        return existing
    item = _new_row(
        DigestItem,
        user_id=user.id,
        frequency=str(channel),
        category=str(category),
        kind=kind,
        title=_text_in(user, title)[:300],
        body=_text_in(user, body)[:1000],
        link=_site_link(link),
        dedupe_key=dedupe_key,
        created_at=utcnow(),
    )
    _added(item)
    return item


def notify_in_app(
    *,
    to: User,
    kind: str,
    title: Any,
    link: str | None = None,
    body: Any = None,
    category: str | None = None,
    dedupe_key: str | None = None,
) -> InAppNotification | None:
    """Add an entry to a person's notification centre only (inside the caller's transaction).

    `title` and `body` may be lazy strings (rendered in the person's language); `link`
    is a path on this site. With a category the entry respects "off"; a repeated
    `dedupe_key` returns the existing entry.
    """
    if category is not None and channel_for(to, Category(category)) == Channel.off:
        return None
    return _add_in_app(to, kind, category, title, body, link, dedupe_key)


# --- preferences -------------------------------------------------------------


def preferences_of(user: User) -> dict[Category, Channel]:
    """A person's channel per category (every category starts at "email immediately")."""
    chosen = {
        pref.category: pref.channel
        for pref in db.session.execute(
            select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        ).scalars()
    }
    return {category: Channel(chosen.get(category, Channel.email)) for category in Category}


def channel_for(user: User, category: Category | str) -> Channel:
    """How this person wants to hear about `category`."""
    cache = db.session.info.get(_PREFS_KEY)
    if cache is not None and user.id in cache:
        return Channel(cache[user.id].get(str(category), Channel.email))
    channel = db.session.execute(
        select(NotificationPreference.channel).where(
            NotificationPreference.user_id == user.id, NotificationPreference.category == str(category)
        )
    ).scalar_one_or_none()
    return Channel(channel or Channel.email)


def _prefetch_delivery_state(users: Iterable[User]) -> None:
    """Load preferences and mailbox health of many recipients at once (a ledger batch)."""
    users = list(users)
    ids = {user.id for user in users}
    prefs: dict[int, dict[str, str]] = {user_id: {} for user_id in ids}
    for user_id, category, channel in db.session.execute(
        select(
            NotificationPreference.user_id, NotificationPreference.category, NotificationPreference.channel
        ).where(NotificationPreference.user_id.in_(ids))
    ):
        prefs[user_id][category] = channel
    emails = [user.email for user in users]
    undeliverable = set(
        db.session.execute(
            select(MailboxHealth.email).where(
                MailboxHealth.email.in_(emails), MailboxHealth.undeliverable_since.is_not(None)
            )
        ).scalars()
    )
    db.session.info[_PREFS_KEY] = prefs
    db.session.info[_UNDELIVERABLE_KEY] = undeliverable


def set_preferences(user: User, choices: Mapping[str, str]) -> dict[Category, Channel]:
    """Save a person's channel for each category given; returns every category's channel."""
    parsed: dict[Category, Channel] = {}
    for category, channel in choices.items():
        try:
            parsed[Category(category)] = Channel(channel)
        except ValueError as exc:
            raise DomainError(_l("Elige una opción de la lista."), field=str(category), status=422) from exc
    current = preferences_of(user)
    now = utcnow()
    for category, channel in parsed.items():
        if current[category] == channel:
            continue
        pref = db.session.execute(
            select(NotificationPreference).where(
                NotificationPreference.user_id == user.id, NotificationPreference.category == category
            )
        ).scalar_one_or_none()
        if pref is None:
            db.session.add(
                NotificationPreference(user_id=user.id, category=category, channel=channel, updated_at=now)
            )
        else:
            pref.channel, pref.updated_at = channel, now
        _retarget_pending_digest_items(user, category, channel)
    db.session.commit()
    return preferences_of(user)


def _retarget_pending_digest_items(user: User, category: Category, channel: Channel) -> None:
    pending = (
        DigestItem.user_id == user.id,
        DigestItem.category == str(category),
        DigestItem.digest_id.is_(None),
    )
    if channel in (Channel.daily, Channel.weekly):
        db.session.execute(update(DigestItem).where(*pending).values(frequency=str(channel)))
    else:
        # Email now, in-app only or off: the digest line is no longer wanted (the
        # in-app centre already has the message unless the category is off).
        db.session.execute(delete(DigestItem).where(*pending))


def unsubscribe_token(user: User, categories: Iterable[str]) -> str:
    """A signed token that turns the given categories off for this person."""
    # The same token `core.security.sign` makes; the serializer is kept (a fan-out
    # signs thousands).
    signer = current_app.extensions.get("promueve_unsubscribe_signer")
    if signer is None:
        signer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_PURPOSE)
        current_app.extensions["promueve_unsubscribe_signer"] = signer
    return signer.dumps({"u": user.id, "c": sorted({str(c) for c in categories})})


def read_unsubscribe_token(token: str) -> tuple[User, list[Category]]:
    """The person and categories of an unsubscribe link; BadLink when forged or expired."""
    payload = unsign(
        token, purpose=UNSUBSCRIBE_PURPOSE, max_age=current_app.config["UNSUBSCRIBE_LINK_MAX_AGE"]
    )
    user = db.session.get(User, payload.get("u")) if isinstance(payload, dict) else None
    if user is None or user.deleted_at is not None:
        raise BadLink(expired=False)
    try:
        categories = [Category(c) for c in payload.get("c", [])]
    except ValueError as exc:
        raise BadLink(expired=False) from exc
    return user, categories


def unsubscribe(token: str) -> tuple[User, list[Category]]:
    """One-click unsubscribe (RFC 8058): the token's categories become "off"."""
    user, categories = read_unsubscribe_token(token)
    set_preferences(user, dict.fromkeys(categories, Channel.off))
    return user, categories


# --- mailbox health ------------------------------------------------------------


def _is_undeliverable(email: str) -> bool:
    cache = db.session.info.get(_UNDELIVERABLE_KEY)
    if cache is not None:
        return email in cache
    return (
        db.session.execute(
            select(MailboxHealth.id).where(
                MailboxHealth.email == email, MailboxHealth.undeliverable_since.is_not(None)
            )
        ).first()
        is not None
    )


def mailbox_problem(user: User) -> MailboxHealth | None:
    """The record of an undeliverable address, when the person's address is one."""
    return db.session.execute(
        select(MailboxHealth).where(
            MailboxHealth.email == user.email, MailboxHealth.undeliverable_since.is_not(None)
        )
    ).scalar_one_or_none()


def retry_mailbox(user: User) -> Notification:
    """The person says their mailbox works again: try once more with a check email.

    The address goes back on probation (one more permanent failure marks it again);
    a delivered message clears it.
    """
    health = mailbox_problem(user)
    if health is None:
        raise DomainError(_l("Tu correo no tiene problemas de entrega."), status=409)
    health.undeliverable_since = None
    health.permanent_failures = max(0, current_app.config["MAIL_BOUNCE_LIMIT"] - 1)
    row = _add_email(
        to=user,
        kind="notifications.mailbox_check",
        subject=_l("Prueba de entrega de Promueve"),
        template="notifications/email/mailbox_check",
        dedupe_key=f"mailbox-check:{user.id}:{utcnow():%Y%m%d%H%M%S%f}",
        context={"preferences_url": external_url("notifications.preferences")},
        locale=None,
        timezone=None,
    )
    audit.record("mailbox.retry", user, actor=user)
    db.session.commit()
    return row


# --- in-app centre ---------------------------------------------------------------


def unread_count(user: User) -> int:
    """How many in-app notifications the person has not read."""
    return db.session.execute(
        select(func.count())
        .select_from(InAppNotification)
        .where(InAppNotification.user_id == user.id, InAppNotification.read_at.is_(None))
    ).scalar_one()


def inbox(
    user: User, *, page: int = 1, per_page: int = 30, unread_only: bool = False
) -> tuple[list[InAppNotification], int]:
    """A page of the person's notifications, newest first, and the total count."""
    conditions = [InAppNotification.user_id == user.id]
    if unread_only:
        conditions.append(InAppNotification.read_at.is_(None))
    total = db.session.execute(
        select(func.count()).select_from(InAppNotification).where(*conditions)
    ).scalar_one()
    items = db.session.execute(
        select(InAppNotification)
        .where(*conditions)
        .order_by(InAppNotification.created_at.desc(), InAppNotification.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).scalars()
    return list(items), total


def in_app_item(user: User, item_id: int) -> InAppNotification:
    """One of the person's notifications (404 when it is not theirs)."""
    item = db.session.get(InAppNotification, item_id)
    if item is None or item.user_id != user.id:
        raise DomainError(_l("Esa notificación no existe."), status=404)
    return item


def mark_read(user: User, item_id: int) -> InAppNotification:
    """Mark one notification read (idempotent)."""
    item = in_app_item(user, item_id)
    if item.read_at is None:
        item.read_at = utcnow()
        db.session.commit()
    return item


def mark_all_read(user: User) -> int:
    """Mark every unread notification of the person read; returns how many."""
    count = db.session.execute(
        update(InAppNotification)
        .where(InAppNotification.user_id == user.id, InAppNotification.read_at.is_(None))
        .values(read_at=utcnow())
    ).rowcount
    db.session.commit()
    return count


def purge_old_notifications() -> dict[str, int]:
    """Forget in-app entries, used digest lines and finished ledger rows past retention."""
    cutoff = utcnow() - timedelta(days=current_app.config["IN_APP_RETENTION_DAYS"])
    result = {
        "in_app": db.session.execute(
            delete(InAppNotification).where(InAppNotification.created_at < cutoff)
        ).rowcount,
        "digest_items": db.session.execute(
            delete(DigestItem).where(DigestItem.digest_id.is_not(None), DigestItem.created_at < cutoff)
        ).rowcount,
        "scheduled": db.session.execute(
            delete(ScheduledNotification).where(
                ScheduledNotification.status != ScheduledStatus.pending,
                ScheduledNotification.updated_at < cutoff,
            )
        ).rowcount,
    }
    db.session.commit()
    return result


# --- the reminder ledger -----------------------------------------------------------


@dataclass
class RenderedReminder:
    """What a renderer wants sent for a due ledger row.

    `subject` (a lazy string), `template` and `context` become the email; `link` and
    `summary` the in-app entry and digest line. `useful=False` (or a renderer that
    returns None) records the row as skipped with `skip_reason`.
    """

    subject: Any = ""
    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    useful: bool = True
    skip_reason: str = ""
    link: str | None = None
    summary: Any = None
    # Files for the email (same shape as `notify(attachments=…)`), e.g. the event's .ics.
    attachments: list[dict[str, str]] | None = None

    @classmethod
    def skip(cls, reason: str) -> RenderedReminder:
        """A row that is no longer worth sending (e.g. the event already started)."""
        return cls(useful=False, skip_reason=reason)


Renderer = Callable[[ScheduledNotification], RenderedReminder | None]
_RENDERERS: dict[str, Renderer] = {}


def register_renderer(kind: str, renderer: Renderer) -> None:
    """Say how to turn due ledger rows of `kind` into a message (domains, at import)."""
    _RENDERERS[kind] = renderer


def schedule(
    *,
    kind: str,
    subject: str,
    recipient: User,
    fire_at: datetime,
    offset_key: str,
    checksum: str,
    category: str,
    expires_at: datetime | None = None,
) -> ScheduledNotification:
    """Schedule (or reschedule) one notification, inside the caller's transaction.

    Upsert by (kind, subject, recipient, offset_key). A different checksum supersedes
    the old row: it returns to pending with the new `fire_at` (an unsent outbox message
    of the old version is withheld). The same checksum changes nothing, except that a
    cancelled row comes back. `subject` is a reference such as "event:42"; a row found
    after `expires_at` is skipped as too late without calling the renderer.
    """
    category = Category(category)
    if fire_at.tzinfo is None or (expires_at is not None and expires_at.tzinfo is None):
        raise ValueError("fire_at and expires_at must be aware datetimes")
    key = (
        ScheduledNotification.kind == kind,
        ScheduledNotification.subject == subject,
        ScheduledNotification.recipient_id == recipient.id,
        ScheduledNotification.offset_key == offset_key,
    )
    row = db.session.execute(select(ScheduledNotification).where(*key)).scalar_one_or_none()
    now = utcnow()
    if row is None:
        row = ScheduledNotification(
            kind=kind,
            subject=subject,
            recipient_id=recipient.id,
            offset_key=offset_key,
            category=category,
            fire_at=fire_at,
            checksum=checksum,
            expires_at=expires_at,
            status=ScheduledStatus.pending,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            # Someone scheduled the same key at the same moment: update theirs.
            row = db.session.execute(select(ScheduledNotification).where(*key)).scalar_one()
        else:
            return row
    if row.checksum == checksum and row.status != ScheduledStatus.cancelled:
        return row
    if row.notification_id is not None and row.checksum != checksum:
        _withhold_unsent([row.notification_id], "superseded by a newer version")
    row.notification = None
    row.checksum = checksum
    row.fire_at = fire_at
    row.expires_at = expires_at
    row.category = category
    row.status = ScheduledStatus.pending
    row.outcome = row.skip_reason = row.last_error = None
    row.attempts = 0
    row.dispatched_at = row.sent_at = None
    row.notification_id = None
    row.updated_at = now
    return row


def cancel_scheduled(*, subject: str, kind: str | None = None, recipient_id: int | None = None) -> int:
    """Cancel the pending rows of a subject (optionally one kind / one recipient).

    Inside the caller's transaction. Messages already handed to the outbox but not yet
    sent are withheld. Returns how many rows were cancelled.
    """
    conditions = [ScheduledNotification.subject == subject]
    if kind is not None:
        conditions.append(ScheduledNotification.kind == kind)
    if recipient_id is not None:
        conditions.append(ScheduledNotification.recipient_id == recipient_id)
    handed_off = list(
        db.session.execute(
            select(ScheduledNotification.id, ScheduledNotification.notification_id).where(
                *conditions,
                ScheduledNotification.status == ScheduledStatus.sent,
                ScheduledNotification.notification_id.is_not(None),
            )
        )
    )
    withheld = _withhold_unsent([n for _, n in handed_off], "cancelled")
    cancel_ids = [row_id for row_id, notification_id in handed_off if notification_id in withheld]
    now = utcnow()
    count = db.session.execute(
        update(ScheduledNotification)
        .where(
            *conditions,
            or_(
                ScheduledNotification.status == ScheduledStatus.pending,
                ScheduledNotification.id.in_(cancel_ids),
            ),
        )
        .values(status=ScheduledStatus.cancelled, updated_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    return count


def _withhold_unsent(notification_ids: list[int], reason: str) -> set[int]:
    if not notification_ids:
        return set()
    queued = set(
        db.session.execute(
            select(Notification.id).where(
                Notification.id.in_(notification_ids), Notification.status == NotificationStatus.queued
            )
        ).scalars()
    )
    if queued:
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(queued), Notification.status == NotificationStatus.queued)
            .values(status=NotificationStatus.withheld, last_error=reason)
            .execution_options(synchronize_session="fetch")
        )
    return queued


def dispatch_due_reminders() -> int:
    """Beat, every minute: hand due ledger rows to `fire_reminders` tasks in batches.

    Rows are marked dispatched first; a batch that dies is re-dispatched once it has
    been stuck REMINDER_STUCK_AFTER_SECONDS (and the outbox keys stop a second send).
    """
    now = utcnow()
    stuck_before = now - timedelta(seconds=current_app.config["REMINDER_STUCK_AFTER_SECONDS"])
    ids = list(
        db.session.execute(
            select(ScheduledNotification.id)
            .where(
                ScheduledNotification.status == ScheduledStatus.pending,
                ScheduledNotification.fire_at <= now,
                or_(
                    ScheduledNotification.dispatched_at.is_(None),
                    ScheduledNotification.dispatched_at < stuck_before,
                ),
            )
            .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
            .limit(100_000)
        ).scalars()
    )
    size = max(1, current_app.config["REMINDER_BATCH_SIZE"])
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    for batch in batches:
        db.session.execute(
            update(ScheduledNotification)
            .where(ScheduledNotification.id.in_(batch))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    celery = current_app.extensions.get("celery")
    for batch in batches:
        try:
            celery.send_task(FIRE_TASK, args=[batch], retry=False)
        except Exception:  # noqa: BLE001 - broker down: re-dispatched once stuck
            log.warning("could not publish a reminder batch of %s rows; retried later", len(batch))
    return len(ids)


def fire_due_reminders(*, limit: int | None = None) -> dict[str, int]:
    """Turn every due ledger row into messages now, in this process (CLI, tests)."""
    totals: dict[str, int] = defaultdict(int)
    size = limit or current_app.config["REMINDER_BATCH_SIZE"]
    while True:
        counts = fire_reminders(None, limit=size)
        for key, value in counts.items():
            totals[key] += value
        if sum(counts.values()) < size:
            return dict(totals)


def fire_reminders(ids: list[int] | None, *, limit: int | None = None) -> dict[str, int]:
    """Turn due pending ledger rows (these ids, or the oldest due) into messages.

    Rows go in slices of REMINDER_COMMIT_SIZE, each one transaction: its outbox rows
    and the ledger's new states commit together, so a worker dying mid-way leaves the
    rest pending and sends nothing twice; a committed slice starts sending while the
    next renders. Rows locked by another batch are skipped (PostgreSQL SKIP LOCKED).
    Should any row raise, its slice is redone row by row in SAVEPOINTs and the culprit
    recorded.
    """
    now = utcnow()
    if ids is None:
        ids = list(
            db.session.execute(
                select(ScheduledNotification.id)
                .where(
                    ScheduledNotification.status == ScheduledStatus.pending,
                    ScheduledNotification.fire_at <= now,
                )
                .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
                .limit(limit or current_app.config["REMINDER_BATCH_SIZE"])
            ).scalars()
        )
    size = max(1, current_app.config["REMINDER_COMMIT_SIZE"])
    totals: dict[str, int] = defaultdict(int)
    db.session.info[_RENDER_MEMO_KEY] = {}
    try:
        for start in range(0, len(ids), size):
            for key, value in _fire_slice(ids[start : start + size], now).items():
                totals[key] += value
        db.session.commit()
    finally:
        db.session.info.pop(_RENDER_MEMO_KEY, None)
    return dict(totals)


def _fire_slice(ids: list[int], now: datetime) -> dict[str, int]:
    rows = _lock_due_rows(ids, None, now)
    if not rows:
        db.session.commit()
        return {}
    try:
        counts = _fire_batch(rows, now, careful=False)
        db.session.commit()
    except Exception:
        log.warning("a reminder slice failed; redoing it row by row", exc_info=True)
        db.session.rollback()
        rows = _lock_due_rows(ids, None, now)
        counts = _fire_batch(rows, now, careful=True)
        db.session.commit()
    return counts


def _lock_due_rows(ids: list[int] | None, limit: int | None, now: datetime) -> list[ScheduledNotification]:
    query = (
        select(ScheduledNotification)
        .options(joinedload(ScheduledNotification.recipient, innerjoin=True))
        .where(ScheduledNotification.status == ScheduledStatus.pending, ScheduledNotification.fire_at <= now)
        .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
        .with_for_update(skip_locked=True, of=ScheduledNotification)
    )
    if ids is not None:
        query = query.where(ScheduledNotification.id.in_(ids))
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).scalars().unique())


def _fire_batch(rows: list[ScheduledNotification], now: datetime, *, careful: bool) -> dict[str, int]:
    _prefetch_delivery_state(row.recipient for row in rows)
    keys = [row.dedupe_key for row in rows]
    _prefetch_absent_keys(Notification, keys)
    _prefetch_absent_keys(InAppNotification, [f"inapp:{key}" for key in keys])
    _prefetch_absent_keys(DigestItem, keys)
    counts: dict[str, int] = defaultdict(int)
    if careful:
        for row in rows:
            counts[_fire_one_carefully(row, now)] += 1
        return dict(counts)
    # The fast way: new rows go in a few bulk INSERTs and the ledger in one UPDATE.
    db.session.info[_BULK_KEY] = []
    updates = []
    for row in rows:
        outcome, values = _fire_one(row, now)
        counts[outcome] += 1
        updates.append((row.id, values))
    outbox_ids = _insert_bulk_rows()
    table = ScheduledNotification.__table__
    params = []
    for row_id, values in updates:
        notification = values.get("notification")
        notification_id = None
        if notification is not None:
            notification_id = outbox_ids.get(notification.dedupe_key) or notification.id
        params.append(
            {
                "b_id": row_id,
                "b_status": values["status"],
                "b_outcome": values.get("outcome"),
                "b_skip_reason": values.get("skip_reason"),
                "b_notification_id": notification_id,
                "b_sent_at": values.get("sent_at"),
                "b_updated_at": now,
            }
        )
    db.session.connection().execute(
        table.update()
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            outcome=bindparam("b_outcome"),
            skip_reason=bindparam("b_skip_reason"),
            notification_id=bindparam("b_notification_id"),
            sent_at=bindparam("b_sent_at"),
            updated_at=bindparam("b_updated_at"),
        ),
        params,
    )
    return dict(counts)


def _fire_one(row: ScheduledNotification, now: datetime) -> tuple[str, dict[str, Any]]:
    """What becomes of one due row: its counter and the ledger's new values."""
    recipient = row.recipient
    if recipient.deleted_at is not None:
        return _skipped("recipient account deleted")
    if row.expires_at is not None and now >= row.expires_at:
        return _skipped("too late: past its useful time")
    renderer = _RENDERERS.get(row.kind)
    if renderer is None:
        raise LookupError(f"no renderer registered for {row.kind!r}")
    rendered = renderer(row)
    if rendered is None or not rendered.useful:
        return _skipped((rendered.skip_reason if rendered else "") or "no longer useful")
    notification, outcome = _route(
        to=recipient,
        kind=row.kind,
        subject=rendered.subject,
        template=rendered.template,
        dedupe_key=row.dedupe_key,
        context=rendered.context,
        locale=None,
        timezone=None,
        category=row.category,
        link=rendered.link,
        summary=rendered.summary,
        in_app=None,
        attachments=rendered.attachments,
    )
    return "sent", {
        "status": ScheduledStatus.sent,
        "outcome": outcome,
        "notification": notification,
        "sent_at": now,
    }


def _skipped(reason: str) -> tuple[str, dict[str, Any]]:
    return "skipped", {"status": ScheduledStatus.skipped, "skip_reason": reason[:300]}


def _fire_one_carefully(row: ScheduledNotification, now: datetime) -> str:
    try:
        with db.session.begin_nested():
            outcome, values = _fire_one(row, now)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            return outcome
    except Exception as exc:
        log.exception("reminder %s (%s) could not be rendered", row.id, row.kind)
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.updated_at = now
        if row.attempts >= MAX_RENDER_ATTEMPTS:
            row.status = ScheduledStatus.failed
            return "failed"
        row.dispatched_at = None  # try again at the next beat
        return "error"


def scheduled_for(subject: str) -> list[ScheduledNotification]:
    """The ledger rows of a subject (for domain pages and tests)."""
    return list(
        db.session.execute(
            select(ScheduledNotification)
            .where(ScheduledNotification.subject == subject)
            .order_by(ScheduledNotification.fire_at, ScheduledNotification.id)
        ).scalars()
    )


def ledger_summary() -> dict[str, int]:
    """Ledger rows per status (admin page)."""
    counts = dict(
        db.session.execute(
            select(ScheduledNotification.status, func.count()).group_by(ScheduledNotification.status)
        ).all()
    )
    return {str(status): counts.get(status, 0) for status in ScheduledStatus}


# --- digests -------------------------------------------------------------------


def digest_period(now: datetime, zone: str, frequency: str) -> tuple[datetime, str]:
    """The start (UTC) and name of the digest period containing `now` in `zone`.

    Daily periods start at DIGEST_HOUR each day; weekly ones on Monday at that hour.
    """
    tz = ZoneInfo(zone if is_valid_timezone(zone) else current_app.config["DEFAULT_TIMEZONE"])
    hour = time(current_app.config["DIGEST_HOUR"])
    local = now.astimezone(tz)
    day = local.date()
    if frequency == Channel.weekly:
        day -= timedelta(days=local.weekday())
    start = datetime.combine(day, hour, tzinfo=tz)
    if local < start:
        day -= timedelta(days=7 if frequency == Channel.weekly else 1)
        start = datetime.combine(day, hour, tzinfo=tz)
    if frequency == Channel.weekly:
        year, week, _ = day.isocalendar()
        return start.astimezone(UTC), f"{year}-W{week:02d}"
    return start.astimezone(UTC), day.isoformat()


def send_due_digests() -> int:
    """Beat: email each person's digest once their period has started (08:00 local).

    A digest holds the lines written before the period began; it is never empty and
    the unique (person, frequency, period) key stops a second one.
    """
    now = utcnow()
    pending = db.session.execute(
        select(DigestItem.user_id, DigestItem.frequency, func.min(DigestItem.created_at))
        .where(DigestItem.digest_id.is_(None))
        .group_by(DigestItem.user_id, DigestItem.frequency)
    ).all()
    db.session.commit()
    sent = 0
    for user_id, frequency, oldest in pending:
        user = db.session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            continue
        start, period = digest_period(now, user.timezone, frequency)
        if oldest.replace(tzinfo=oldest.tzinfo or UTC) >= start:
            continue
        try:
            sent += _send_digest(user, frequency, start, period)
        except IntegrityError:
            db.session.rollback()  # another beat sent this period's digest first
    return sent


def _send_digest(user: User, frequency: str, start: datetime, period: str) -> int:
    digest = Digest(user_id=user.id, frequency=frequency, period=period, created_at=utcnow())
    db.session.add(digest)
    db.session.flush()
    items = list(
        db.session.execute(
            select(DigestItem)
            .where(
                DigestItem.user_id == user.id,
                DigestItem.frequency == frequency,
                DigestItem.digest_id.is_(None),
                DigestItem.created_at < start,
            )
            .order_by(DigestItem.created_at, DigestItem.id)
            .with_for_update()
        ).scalars()
    )
    if not items:
        db.session.rollback()
        return 0
    for item in items:
        item.digest_id = digest.id
    digest.item_count = len(items)
    categories = sorted({item.category for item in items})
    grouped = [
        {
            "label": str(CATEGORY_LABELS[Category(category)]),
            "items": [
                {
                    "title": item.title,
                    "body": item.body,
                    "url": current_app.config["BASE_URL"] + item.link if item.link else "",
                    "created_at": item.created_at,
                }
                for item in items
                if item.category == category
            ],
        }
        for category in categories
    ]
    subject = (
        _l("Tu resumen diario de Promueve: %(n)s avisos", n=len(items))
        if frequency == Channel.daily
        else _l("Tu resumen semanal de Promueve: %(n)s avisos", n=len(items))
    )
    row = _add_email(
        to=user,
        kind=f"digest.{frequency}",
        subject=subject,
        template="notifications/email/digest",
        dedupe_key=f"digest:{user.id}:{frequency}:{period}",
        context={
            "groups": grouped,
            "frequency": frequency,
            "count": len(items),
            "center_url": external_url("notifications.inbox"),
        },
        locale=None,
        timezone=None,
        category=DIGEST_CATEGORY,
        unsubscribe_categories=categories,
    )
    digest.notification = row
    db.session.commit()
    return 1


# --- delivery operations (admin) -------------------------------------------------


def outbox_rows(
    *, status: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Notification], int]:
    """Outbox rows for the admin page, newest first, with the filtered total."""
    conditions = []
    if status:
        conditions.append(Notification.status == NotificationStatus(status))
    if kind:
        conditions.append(Notification.kind == kind)
    total = db.session.execute(select(func.count()).select_from(Notification).where(*conditions)).scalar_one()
    rows = db.session.execute(
        select(Notification).where(*conditions).order_by(Notification.id.desc()).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


def outbox_summary() -> dict[str, int]:
    """Outbox rows per status."""
    counts = dict(
        db.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all()
    )
    return {str(status): counts.get(status, 0) for status in NotificationStatus}


def outbox_kinds() -> list[str]:
    """Every kind present in the outbox (for the filter)."""
    return list(
        db.session.execute(select(Notification.kind).distinct().order_by(Notification.kind)).scalars()
    )


def outbox_message(notification_id: int) -> Notification:
    """One outbox row (404 DomainError when there is none)."""
    row = db.session.get(Notification, notification_id)
    if row is None:
        raise DomainError(_l("Ese mensaje no existe."), status=404)
    return row


def masked_for_admins(row: Notification, value: str) -> str:
    """`value` (a body, an address) with the message's secrets and its unsubscribe token
    masked: what an admin may see of a message."""
    hidden = list(row.secret_values or [])
    if row.unsubscribe_url:
        hidden.append(row.unsubscribe_url.rstrip("/").rpartition("/")[2])
    return delivery.mask_secrets(value, hidden)


def retry_notification(actor: User | None, notification_id: int) -> Notification:
    """Put a failed or withheld message back in the queue with fresh attempts."""
    row = outbox_message(notification_id)
    if row.status not in (NotificationStatus.failed, NotificationStatus.withheld):
        raise DomainError(_l("Solo se pueden reintentar mensajes fallidos o retenidos."))
    _requeue(row)
    audit.record("outbox.retry", row, actor=actor, details={"kind": row.kind})
    db.session.commit()
    return row


def retry_failed(actor: User | None, *, kind: str | None = None) -> int:
    """Re-queue every failed message (optionally of one kind); returns how many."""
    conditions = [Notification.status == NotificationStatus.failed]
    if kind:
        conditions.append(Notification.kind == kind)
    rows = list(db.session.execute(select(Notification).where(*conditions).limit(10_000)).scalars())
    for row in rows:
        _requeue(row)
    if rows:
        audit.record("outbox.retry_failed", None, actor=actor, details={"kind": kind, "count": len(rows)})
    db.session.commit()
    return len(rows)


def _requeue(row: Notification) -> None:
    now = utcnow()
    row.status = NotificationStatus.queued
    row.attempts = 0
    row.next_attempt_at = None
    row.claimed_at = None
    row.enqueued_at = now
    delivery.remember_for_enqueue(row.id)


def withhold_notification(actor: User | None, notification_id: int) -> Notification:
    """Stop a queued message from going out (it can be retried later)."""
    row = outbox_message(notification_id)
    updated = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.queued)
        .values(status=NotificationStatus.withheld, last_error="withheld by an administrator")
    ).rowcount
    if not updated:
        db.session.rollback()
        raise DomainError(_l("Solo se pueden retener mensajes que siguen en cola."))
    audit.record("outbox.withhold", row, actor=actor, details={"kind": row.kind})
    db.session.commit()
    db.session.refresh(row)
    return row


# --- template previews -------------------------------------------------------------


@dataclass(frozen=True)
class EmailPreview:
    template: str
    subject: Any
    sample: Callable[[], dict[str, Any]]
    category: str | None = None


_PREVIEWS: dict[str, EmailPreview] = {}


def register_preview(
    template: str,
    *,
    subject: Any,
    sample: Callable[[], dict[str, Any]] | Mapping[str, Any],
    category: str | None = None,
) -> None:
    """Give admins a preview of an email template with sample data (domains, at import)."""
    factory = sample if callable(sample) else (lambda: dict(sample))
    _PREVIEWS[template] = EmailPreview(template, subject, factory, category)


def email_templates() -> list[str]:
    """Every email template of the application (`<pkg>/email/<name>`, without extension)."""
    names = {
        name[: -len(".txt")]
        for name in current_app.jinja_env.list_templates(extensions=["txt"])
        if "/email/" in name and not name.rpartition("/")[2].startswith(("_", "base."))
    }
    return sorted(names)


@dataclass
class RenderedPreview:
    template: str
    subject: str
    text: str
    html: str
    category: str | None
    registered: bool
    error: str = ""


def render_preview(template: str, *, locale: str, timezone: str | None = None) -> RenderedPreview:
    """Render a template with its registered sample data (or placeholders) in a locale."""
    if template not in email_templates():
        raise DomainError(_l("Esa plantilla no existe."), status=404)
    preview = _PREVIEWS.get(template)
    timezone = timezone or current_app.config["DEFAULT_TIMEZONE"]
    if preview is not None:
        with force_locale(locale):
            context = preview.sample()
        subject, category = preview.subject, preview.category
    else:
        context, subject, category = _placeholder_context(template), template, None
    unsubscribe_url = external_url("notifications.unsubscribe", token="muestra") if category else ""
    try:
        rendered_subject, text, html = _render_email(
            template,
            subject=subject,
            locale=locale,
            timezone=timezone,
            name="Ana Pérez",
            email="ana.perez@example.org",
            context=context,
            category=category,
            unsubscribe_url=unsubscribe_url,
        )
    except Exception as exc:  # noqa: BLE001 - a preview shows the error instead of failing
        return RenderedPreview(template, str(subject), "", "", category, preview is not None, repr(exc))
    return RenderedPreview(template, rendered_subject, text, html, category, preview is not None)


def _placeholder_context(template: str) -> dict[str, Any]:
    from jinja2 import meta

    env = current_app.jinja_env
    names: set[str] = set()
    for extension in ("txt", "html"):
        source = env.loader.get_source(env, f"{template}.{extension}")[0]
        names |= meta.find_undeclared_variables(env.parse(source))
    return {name: f"[{name}]" for name in names if name not in env.globals}


# --- personal data (ARCO) ----------------------------------------------------------


def _addressed_to(user_id: int, email: str):
    # Messages sent before the person had an account carry only the address.
    return or_(Notification.user_id == user_id, Notification.to_email == email)


def erase_recipient(user_id: int, email: str, anonymous_email: str) -> None:
    """Remove a person's address, message bodies, notification centre, digests,
    preferences and pending reminders (ARCO erasure; inside the caller's transaction)."""
    db.session.execute(
        update(Notification)
        .where(_addressed_to(user_id, email))
        .values(
            to_email=anonymous_email,
            to_name="",
            body_text="",
            body_html="",
            subject="",
            unsubscribe_url="",
            attachments=None,
            secret_values=None,
        )
    )
    db.session.execute(
        update(Notification)
        .where(_addressed_to(user_id, anonymous_email), Notification.status == NotificationStatus.queued)
        .values(status=NotificationStatus.withheld, last_error="recipient erased")
    )
    db.session.execute(delete(InAppNotification).where(InAppNotification.user_id == user_id))
    db.session.execute(delete(DigestItem).where(DigestItem.user_id == user_id))
    db.session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
    db.session.execute(delete(ScheduledNotification).where(ScheduledNotification.recipient_id == user_id))
    db.session.execute(delete(MailboxHealth).where(MailboxHealth.email == email))


def notifications_for(user_id: int, email: str) -> list[dict[str, Any]]:
    """What the outbox holds about a person, for their data export."""
    rows = db.session.execute(
        select(Notification).where(_addressed_to(user_id, email)).order_by(Notification.id)
    ).scalars()
    return [
        {
            "kind": row.kind,
            "subject": row.subject,
            "to": row.to_email,
            "status": str(row.status),
            "created_at": row.created_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        }
        for row in rows
    ]


def notification_data_for(user: User) -> dict[str, Any]:
    """Preferences, notification centre and pending reminders of a person (data export)."""
    return {
        "preferences": {str(k): str(v) for k, v in preferences_of(user).items()},
        "in_app": [
            {
                "title": i.title,
                "link": i.link,
                "created_at": i.created_at.isoformat(),
                "read": bool(i.read_at),
            }
            for i in db.session.execute(
                select(InAppNotification)
                .where(InAppNotification.user_id == user.id)
                .order_by(InAppNotification.id)
            ).scalars()
        ],
        "scheduled": [
            {"kind": r.kind, "subject": r.subject, "fire_at": r.fire_at.isoformat(), "status": str(r.status)}
            for r in db.session.execute(
                select(ScheduledNotification)
                .where(ScheduledNotification.recipient_id == user.id)
                .order_by(ScheduledNotification.id)
            ).scalars()
        ],
    }


# --- samples for the foundation's templates ----------------------------------------


def _register_foundation_previews() -> None:
    register_preview(
        "accounts/email/verify",
        subject=_l("Confirma tu correo en Promueve"),
        sample={"verify_url": "https://promueve.example/verify/muestra", "hours": 48},
    )
    register_preview(
        "accounts/email/reset",
        subject=_l("Restablece tu contraseña de Promueve"),
        sample={"reset_url": "https://promueve.example/password/reset/muestra", "minutes": 60},
    )
    register_preview(
        "accounts/email/account_exists",
        subject=_l("Alguien intentó crear una cuenta con tu correo"),
        sample={
            "login_url": "https://promueve.example/login",
            "reset_url": "https://promueve.example/password/forgot",
        },
    )
    register_preview(
        "accounts/email/invitation",
        subject=_l("Te invitaron a %(institution)s en Promueve", institution="INEGI"),
        sample={
            "institution": "Instituto Nacional de Estadística y Geografía (INEGI)",
            "role": "liaison",
            "inviter": "Mariana López Ortega",
            "accept_url": "https://promueve.example/invitations/muestra",
            "days": 14,
        },
    )
    register_preview(
        "notifications/email/mailbox_check",
        subject=_l("Prueba de entrega de Promueve"),
        sample={"preferences_url": "https://promueve.example/notifications/preferences"},
    )
    register_preview(
        "notifications/email/reminder",
        subject=_l("Recordatorio: %(title)s", title="Mesa de diálogo sobre datos de salud"),
        category=Category.events,
        sample=lambda: {
            "title": "Mesa de diálogo sobre datos de salud",
            "message": "Faltan 24 horas para la mesa de diálogo a la que te registraste.",
            "starts_at": utcnow() + timedelta(days=1),
            "place": "Sala 3, Av. Insurgentes Sur 1234, Ciudad de México",
            "url": "https://promueve.example/events/42",
            "institution_name": "Secretaría de Salud (SSA)",
        },
    )
    register_preview(
        "notifications/email/digest",
        subject=_l("Tu resumen diario de Promueve: %(n)s avisos", n=3),
        category=DIGEST_CATEGORY,
        sample=lambda: {
            "frequency": "daily",
            "count": 3,
            "center_url": "https://promueve.example/notifications",
            "groups": [
                {
                    "label": str(CATEGORY_LABELS[Category.events]),
                    "items": [
                        {
                            "title": "Nuevo datatón: movilidad en Guadalajara",
                            "body": "Registro abierto hasta el 15 de diciembre.",
                            "url": "https://promueve.example/events/7",
                            "created_at": utcnow() - timedelta(hours=5),
                        },
                        {
                            "title": "Recordatorio: mesa de diálogo sobre agua",
                            "body": "",
                            "url": "https://promueve.example/events/9",
                            "created_at": utcnow() - timedelta(hours=3),
                        },
                    ],
                },
                {
                    "label": str(CATEGORY_LABELS[Category.answers]),
                    "items": [
                        {
                            "title": "CONAGUA respondió a tu solicitud de datos de presas",
                            "body": "Publicará el conjunto en marzo.",
                            "url": "https://promueve.example/demand/3",
                            "created_at": utcnow() - timedelta(hours=1),
                        }
                    ],
                },
            ],
        },
    )


_register_foundation_previews()
