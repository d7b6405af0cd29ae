"""Private calendar feed links: issue, regenerate, revoke, resolve. One unit of work per function."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from accounts import credentials as accounts_credentials
from accounts import services as accounts_services
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.security import token_digest
from core.timeutil import utcnow
from core.urls import external_url
from events.feed_models import CalendarFeedToken

TOKEN_PREFIX = "cal_"
# Calendar apps poll every few minutes to hours; record use at most this often (one write).
LAST_USED_RESOLUTION = timedelta(hours=1)


def token_value(salt: str) -> str:
    """The secret token of a link: an HMAC of its salt with SECRET_KEY (never stored)."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"calendar-feed:" + salt.encode(), hashlib.sha256).digest()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def active_feed_token(user: User) -> CalendarFeedToken | None:
    """The person's working feed link, if they have one."""
    return db.session.execute(
        select(CalendarFeedToken).where(
            CalendarFeedToken.user_id == user.id, CalendarFeedToken.revoked_at.is_(None)
        )
    ).scalar_one_or_none()


def shown_token(token: CalendarFeedToken) -> str | None:
    """The token to show its owner, or None if SECRET_KEY changed since (regenerate then)."""
    raw = token_value(token.salt)
    return raw if hmac.compare_digest(token_digest(raw), token.token_hash) else None


def feed_url(raw: str) -> str:
    """The https address of a private feed."""
    return external_url("calendars.private_feed", token=raw)


def webcal_url(raw: str) -> str:
    """The webcal:// address calendar apps subscribe to."""
    url = feed_url(raw)
    return "webcal://" + url.split("://", 1)[1]


def issue_feed_token(user: User) -> CalendarFeedToken:
    """Create the person's feed link, revoking the previous one (whoever had it loses access).

    Only for verified addresses, like API tokens: a link taken by someone who signed up with
    another person's address would otherwise show the owner's registrations later."""
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de crear tu enlace de calendario."),
            status=403,
            code="email_not_verified",
        )
    now = utcnow()
    previous = active_feed_token(user)
    if previous is not None:
        previous.revoked_at = now
        audit.record("calendar_feed.revoke", previous, actor=user, details={"reason": "regenerated"})
        db.session.flush()
    salt = secrets.token_urlsafe(24)
    token = CalendarFeedToken(
        user_id=user.id, salt=salt, token_hash=token_digest(token_value(salt)), created_at=now
    )
    db.session.add(token)
    try:
        db.session.flush()
    except IntegrityError:
        # Another request (a double click) issued one at the same moment: keep that one.
        db.session.rollback()
        existing = active_feed_token(user)
        if existing is None:
            raise DomainError(_l("No pudimos crear el enlace; vuelve a intentarlo."), status=409) from None
        return existing
    audit.record("calendar_feed.create", token, actor=user)
    db.session.commit()
    return token


def revoke_feed_token(user: User) -> bool:
    """Turn the person's feed link off; whether there was one to revoke."""
    token = active_feed_token(user)
    if token is None:
        return False
    token.revoked_at = utcnow()
    audit.record("calendar_feed.revoke", token, actor=user, details={"reason": "revoked"})
    db.session.commit()
    return True


def feed_owner(raw: str) -> User | None:
    """The owner of a working feed link (None when unknown, revoked or the account is gone)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    row = db.session.execute(
        select(CalendarFeedToken, User)
        .join(User, User.id == CalendarFeedToken.user_id)
        .where(
            CalendarFeedToken.token_hash == token_digest(raw),
            CalendarFeedToken.revoked_at.is_(None),
            User.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    token, user = row
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        db.session.execute(
            update(CalendarFeedToken).where(CalendarFeedToken.id == token.id).values(last_used_at=now)
        )
        db.session.commit()
    return user


# --- personal data (ARCO) -------------------------------------------------------------------


def export_feed_tokens(user: User) -> list[dict[str, Any]]:
    """A person's calendar links (dates only: the secret is not data about them)."""
    tokens = db.session.execute(
        select(CalendarFeedToken).where(CalendarFeedToken.user_id == user.id).order_by(CalendarFeedToken.id)
    ).scalars()
    return [
        {
            "created_at": token.created_at.isoformat(),
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
            "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        }
        for token in tokens
    ]


def revoke_all_feed_tokens(user: User) -> int:
    """On account deletion and password change or reset: no calendar link keeps working
    (inside the caller's transaction); returns how many were revoked."""
    return db.session.execute(
        update(CalendarFeedToken)
        .where(CalendarFeedToken.user_id == user.id, CalendarFeedToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount


accounts_services.PERSONAL_DATA_SECTIONS["calendar_feeds"] = export_feed_tokens
if revoke_all_feed_tokens not in accounts_services.ERASERS:
    accounts_services.ERASERS.append(revoke_all_feed_tokens)
accounts_credentials.CREDENTIAL_REVOKERS["calendar_links"] = revoke_all_feed_tokens
