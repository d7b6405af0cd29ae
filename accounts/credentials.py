"""What keeps a person signed in: web session records (one per browser, checked on every
request) and revoking every credential at once when the password changes.

One unit of work per function, unless it says it writes inside the caller's transaction.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select, update

from accounts.models import UserSession
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import ApiToken, User
from core.security import token_digest
from core.timeutil import utcnow
from core.urls import external_url
from notifications.services import notify, register_preview

# A visit is written to the record at most this often: most requests only read it.
TOUCH_INTERVAL = timedelta(minutes=1)
# Ended or expired records are kept this long (the person sees nothing of them), then purged.
KEEP_ENDED = timedelta(days=30)

# Other domains add the credentials they issue (e.g. the private calendar link) here:
# name -> function revoking all of a person's, inside the caller's transaction, returning
# how many it revoked. They run whenever the password is changed or reset.
CREDENTIAL_REVOKERS: dict[str, Callable[[User], int]] = {}


class EndReason:
    """Why a session record was ended (stored in `revoked_reason`)."""

    logout = "logout"
    signed_out_remotely = "signed_out_remotely"
    signed_out_elsewhere = "signed_out_elsewhere"
    password_changed = "password_changed"
    password_reset = "password_reset"


# --- devices -----------------------------------------------------------------------

_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}")


def describe_device(user_agent: str | None) -> str:
    """A short, human name for a browser from its User-Agent ("Firefox · Linux"), or ""."""
    agent = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in agent), "")
    if browser or system:
        return " · ".join(part for part in (browser, system) if part)
    # Scripts and other clients: their product name ("curl", "python-requests").
    match = _PRODUCT.match(agent)
    return match.group(0) if match else ""


# --- session records -----------------------------------------------------------------


def _idle_lifetime() -> timedelta:
    return current_app.config["PERMANENT_SESSION_LIFETIME"]


def _absolute_lifetime() -> timedelta:
    return current_app.config["SESSION_MAX_LIFETIME"]


def start_session(user: User, *, remember: bool = False, user_agent: str = "", ip: str = "") -> str:
    """Open a session record for a browser that just signed in; returns the key for its cookie.

    The key is also set as `user.session_key`, which Flask-Login stores in the session and
    remember-me cookies. Idle sessions end after PERMANENT_SESSION_LIFETIME without a
    visit; a remember-me session lasts REMEMBER_COOKIE_DURATION; none outlives
    SESSION_MAX_LIFETIME.
    """
    now = utcnow()
    key = secrets.token_urlsafe(32)
    if remember:
        lifetime = min(current_app.config["REMEMBER_COOKIE_DURATION"], _absolute_lifetime())
    else:
        lifetime = min(_idle_lifetime(), _absolute_lifetime())
    record = UserSession(
        user_id=user.id,
        key_hash=token_digest(key),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        remember=remember,
        device=describe_device(user_agent)[:100],
        ip=(ip or "")[:45],
    )
    db.session.add(record)
    db.session.commit()
    user.session_key = key
    user.current_session = record
    return key


def load_session_user(key: str, *, ip: str | None = None) -> User | None:
    """The person whose active session record has this key (the Flask-Login user loader).

    Notes the visit (last seen, address, sliding idle expiry) at most once a minute.
    """
    if not key or len(key) > 128:
        return None
    now = utcnow()
    row = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.key_hash == token_digest(key),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
            User.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    record, user = row
    if now - record.last_seen_at >= TOUCH_INTERVAL:
        values: dict[str, Any] = {"last_seen_at": now}
        if ip:
            values["ip"] = ip[:45]
        if not record.remember:
            values["expires_at"] = min(now + _idle_lifetime(), record.created_at + _absolute_lifetime())
        db.session.execute(update(UserSession).where(UserSession.id == record.id).values(**values))
        db.session.commit()
    user.session_key = key
    user.current_session = record
    return user


def active_sessions(user: User) -> list[UserSession]:
    """A person's sessions that still work, most recently used first."""
    return list(
        db.session.execute(
            select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        ).scalars()
    )


def end_session(record: UserSession | None, reason: str = EndReason.logout) -> None:
    """End one session record (logout); nothing happens when it is already ended."""
    if record is None:
        return
    db.session.execute(
        update(UserSession)
        .where(UserSession.id == record.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    db.session.commit()


def session_of(user: User, session_id: int) -> UserSession:
    """One of the person's active sessions; 404 for any other id, theirs or not."""
    record = db.session.get(UserSession, session_id)
    if record is None or record.user_id != user.id or not record.is_active:
        raise DomainError(_l("Esa sesión no existe o ya terminó."), status=404)
    return record


def end_session_of(user: User, session_id: int) -> UserSession:
    """Sign one of my browsers out (from the profile's list of sessions)."""
    record = session_of(user, session_id)
    end_session(record, EndReason.signed_out_remotely)
    return record


def end_other_sessions(user: User, keep: UserSession | None) -> int:
    """Sign out every browser of the person except `keep` (this one); returns how many."""
    conditions = [UserSession.user_id == user.id, UserSession.revoked_at.is_(None)]
    if keep is not None:
        conditions.append(UserSession.id != keep.id)
    ended = db.session.execute(
        update(UserSession)
        .where(*conditions)
        .values(revoked_at=utcnow(), revoked_reason=EndReason.signed_out_elsewhere)
    ).rowcount
    if ended:
        audit.record("sessions.end_others", user, actor=user, details={"sessions": ended})
    db.session.commit()
    return ended


def _end_all_sessions(user: User, reason: str) -> int:
    """End every session of the person, inside the caller's transaction."""
    now = utcnow()
    return db.session.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(revoked_at=now, revoked_reason=reason)
    ).rowcount


# --- revoking everything when the password changes -----------------------------------


def revoke_credentials(user: User, reason: str) -> dict[str, int]:
    """End every session, API token and registered credential (calendar link) of the
    person and tell them by email and in the notification centre; inside the caller's
    transaction. Returns how many of each were revoked."""
    now = utcnow()
    counts = {"sessions": _end_all_sessions(user, reason)}
    counts["api_tokens"] = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    for name, revoke in CREDENTIAL_REVOKERS.items():
        counts[name] = revoke(user)
    audit.record("credentials.revoke", user, actor=user, details={"reason": reason, **counts})
    notify(
        to=user,
        kind="account.password_changed",
        subject=_l("La contraseña de tu cuenta de Promueve cambió"),
        template="accounts/email/password_changed",
        dedupe_key=f"password-changed:{user.id}:{time.time_ns()}",
        context={
            "api_tokens": counts["api_tokens"],
            "calendar_links": counts.get("calendar_links", 0),
            "tokens_url": external_url("accounts.tokens"),
            "calendar_url": external_url("calendars.subscription"),
            "forgot_url": external_url("accounts.forgot_password"),
        },
        in_app=True,
        link=external_url("accounts.tokens"),
        summary=_l(
            "Cerramos tus sesiones y revocamos tus tokens de la API y tu enlace privado de calendario; "
            "puedes crear nuevos."
        ),
    )
    return counts


# --- personal data (ARCO) and housekeeping -------------------------------------------


def export_sessions(user: User) -> list[dict[str, Any]]:
    """A person's session records, for their data export."""
    records = db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).scalars()
    return [
        {
            "device": record.device,
            "ip": record.ip,
            "created_at": record.created_at.isoformat(),
            "last_seen_at": record.last_seen_at.isoformat(),
            "ended_at": record.revoked_at.isoformat() if record.revoked_at else None,
        }
        for record in records
    ]


def erase_sessions(user: User) -> None:
    """On account deletion: every session ends, and its device and address are forgotten
    (inside the caller's transaction)."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def purge_sessions() -> int:
    """Delete records ended or expired more than KEEP_ENDED ago; returns how many."""
    before = utcnow() - KEEP_ENDED
    purged = db.session.execute(
        delete(UserSession).where(
            or_(UserSession.revoked_at < before, UserSession.expires_at < before),
        )
    ).rowcount
    db.session.commit()
    return purged


register_preview(
    "accounts/email/password_changed",
    subject=_l("La contraseña de tu cuenta de Promueve cambió"),
    sample={
        "api_tokens": 2,
        "calendar_links": 1,
        "tokens_url": "https://promueve.example/profile/tokens",
        "calendar_url": "https://promueve.example/profile/calendar",
        "forgot_url": "https://promueve.example/password/forgot",
    },
)
