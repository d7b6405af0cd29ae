"""Preferences: a person's channel per category, one-click unsubscribe, and the health of
their mailbox (no mail goes to an undeliverable address)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import delete, select, update

from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.security import BadLink, unsign
from core.timeutil import utcnow
from notifications.models import Category, Channel, DigestItem, MailboxHealth, NotificationPreference
from notifications.services.common import _PREFS_KEY, _UNDELIVERABLE_KEY, UNSUBSCRIBE_PURPOSE


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
