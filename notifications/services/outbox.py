"""The outbox: `notify` writes one row per message inside the caller's transaction (mail goes
after commit), routed by the person's preferences to email, a digest line or the in-app
centre; rows of a ledger batch are collected and inserted in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from core.validation import one_line
from notifications import delivery
from notifications.deferred import has_renderer
from notifications.delivery import make_message_id
from notifications.models import (
    Category,
    Channel,
    DigestItem,
    InAppNotification,
    Notification,
    NotificationStatus,
)
from notifications.services.common import _ABSENT_KEY, _ADDED_KEY, _BULK_KEY
from notifications.services.preferences import _is_undeliverable, channel_for, unsubscribe_token
from notifications.services.rendering import _render_email


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


def notify_later(
    *,
    to: User,
    kind: str,
    subject: Any,
    dedupe_key: str,
    refs: Mapping[str, Any],
    link: str | None = None,
    summary: Any = None,
    in_app: bool = False,
    fresh: bool = False,
) -> Notification:
    """Tell a person something transactional, rendered by the mail worker when it is sent.

    Inside the caller's transaction, like `notify`, with the same promises (one row per
    `dedupe_key`, a fixed Message-ID, published after commit); but the row keeps only the
    ids the kind's renderer needs (`refs`, see `register_message_renderer`), and the worker
    renders subject, text, HTML and attachments just before sending, with what is true
    then. `subject` is the row's provisional subject (the outbox list) and the in-app
    entry's title. `fresh=True` says the key is new (it holds an id inserted in this very
    transaction), so nothing is looked up. Not for content that must be frozen when
    written (link tokens): `notify` renders at once.
    """
    if not has_renderer(kind):
        raise LookupError(f"no message renderer registered for {kind!r}")
    if not fresh:
        existing = _existing(Notification, dedupe_key)
        if existing is not None:
            return existing
    locale = to.locale or current_app.config["DEFAULT_LOCALE"]
    with force_locale(locale):
        provisional = one_line(subject)[:300]
    now = utcnow()
    row = _new_row(
        Notification,
        user_id=to.id,
        to_email=to.email,
        to_name=to.name,
        kind=kind,
        category=None,
        locale=locale,
        subject=provisional,
        body_text="",
        body_html="",
        unsubscribe_url="",
        render_refs=dict(refs),
        dedupe_key=dedupe_key,
        status=NotificationStatus.queued,
        attempts=0,
        created_at=now,
        enqueued_at=now,
        message_id="",
    )
    row.message_id = make_message_id(row)
    if not _added(row):
        # Inserted with the transaction's next statement (no flush of its own).
        delivery.remember_for_enqueue(row)
    if in_app:
        _add_in_app(to, kind, None, subject, summary, link, f"inapp:{dedupe_key}", fresh=fresh)
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


@contextmanager
def rows_in_bulk() -> Iterator[dict[str, int]]:
    """Collect the outbox, in-app and digest rows written inside this block and insert them
    on leaving it with Core statements, not through the ORM's flush: cheaper for a request
    that writes one message (a registration) and for a ledger batch. Same promises: written
    in the caller's transaction, published after its commit. The dict it yields is filled
    on leaving with the new outbox ids by dedupe key. Inside a block that already collects
    rows, the rows join it (and the outer block inserts them)."""
    outbox_ids: dict[str, int] = {}
    if db.session.info.get(_BULK_KEY) is not None:
        yield outbox_ids
        return
    db.session.info[_BULK_KEY] = []
    try:
        yield outbox_ids
    except BaseException:
        db.session.info.pop(_BULK_KEY, None)
        raise
    outbox_ids.update(_insert_bulk_rows())


def _insert_bulk_rows() -> dict[str, int]:
    """Insert the rows a ledger batch collected (executemany: one prepared statement per
    table); returns the new outbox ids by dedupe key, and queues them for sending."""
    rows = db.session.info.pop(_BULK_KEY, [])
    connection = db.session.connection()
    outbox_keys: list[str] = []
    outbox_ids: dict[str, int] = {}
    for model in (Notification, InAppNotification, DigestItem):
        table = model.__table__
        groups: dict[frozenset, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            if row._model is model:
                values = {k: v for k, v in vars(row).items() if k in table.c}
                groups[frozenset(values)].append(values)
        for values in groups.values():
            if model is Notification and len(values) == 1:
                # One message (a registration's): its id comes back with the INSERT.
                new_id = connection.execute(table.insert().returning(table.c.id), values[0]).scalar_one()
                outbox_ids[values[0]["dedupe_key"]] = new_id
                delivery.remember_for_enqueue(new_id)
                continue
            connection.execute(table.insert(), values)
            if model is Notification:
                outbox_keys.extend(value["dedupe_key"] for value in values)
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
    *,
    fresh: bool = False,
) -> InAppNotification:
    if dedupe_key is not None and not fresh:
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
