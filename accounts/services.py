"""Account and institution workflows; each public function is one unit of work."""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from blinker import Namespace
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, selectinload

from accounts import credentials
from accounts.models import Invitation
from core import audit
from core.celery_app import publish
from core.choices import InstitutionRole, Sector
from core.exceptions import DomainError
from core.extensions import db
from core.images import (
    ProcessedImage,
    image_dict,
    process_image,
    prune_images,
    register_image_references,
    store_image,
)
from core.models import ApiToken, AuditEntry, Institution, InstitutionFollow, Membership, User
from core.security import (
    BadLink,
    fingerprint,
    hash_password,
    password_needs_rehash,
    password_problem,
    sign,
    token_digest,
    unsign,
    unusable_password,
    verify_password,
)
from core.timeutil import is_valid_timezone, utcnow
from core.urls import external_url
from notifications.services import erase_recipient, notification_data_for, notifications_for, notify

log = logging.getLogger(__name__)
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
VERIFY_PURPOSE = "verify-email"
RESET_PURPOSE = "reset-password"
PASSWORD_RESET_TASK = "accounts.send_password_reset"
RESEND_VERIFICATION_TASK = "accounts.resend_verification"

_signals = Namespace()
# Sent inside update_institution's transaction with `changed` (the field names): the domains
# above accounts keep what they derive from an institution (events' search text) in step,
# without accounts importing them.
institution_updated = _signals.signal("institution-updated")


def normalise_email(email: str) -> str:
    """The canonical form of an address, as stored and compared."""
    return email.strip().lower()


def check_email(email: str) -> str:
    """A normalised, syntactically valid email address, or DomainError."""
    try:
        # No SMTPUTF8: every relay can carry the address; IDN domains become punycode.
        result = validate_email(email.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise DomainError(_l("Escribe un correo electrónico válido."), field="email", status=422) from exc
    return normalise_email(result.ascii_email or result.normalized)


def check_name(name: str, field: str = "name") -> str:
    """A display name: trimmed, 1–200 characters, no control characters."""
    name = " ".join(name.split())
    if not name or len(name) > 200 or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise DomainError(_l("Escribe un nombre de hasta 200 caracteres."), field=field, status=422)
    return name


def check_new_password(password: str, *, email: str = "", field: str = "password") -> None:
    """Apply the password policy to a new password."""
    problem = password_problem(password, email=email)
    if problem:
        raise DomainError(problem, field=field, status=422)


def find_user(email: str) -> User | None:
    """The active account with this email, if any."""
    return db.session.execute(
        select(User).where(User.email == normalise_email(email), User.deleted_at.is_(None))
    ).scalar_one_or_none()


# --- sign-up and verification ------------------------------------------------


@dataclass
class SignUp:
    name: str
    email: str
    password: str
    sector: str
    state: str | None
    accepted_privacy: bool
    locale: str
    timezone: str


def sign_up(data: SignUp) -> User | None:
    """Create an unverified account and send the verification email.

    When the address already has an account, nothing is created and its owner is
    told by email instead; the caller shows the same answer either way.
    """
    email = check_email(data.email)
    check_new_password(data.password, email=email)
    if not data.accepted_privacy:
        raise DomainError(_l("Debes aceptar el aviso de privacidad."), field="accept_privacy", status=422)
    if data.sector not in Sector.__members__:
        raise DomainError(_l("Elige un sector de la lista."), field="sector", status=422)
    name = check_name(data.name)
    existing = find_user(email)
    if existing is not None:
        # Spend the time a new account costs, so timing does not reveal the account.
        hash_password(data.password)
        notify(
            to=existing,
            kind="account.exists",
            subject=_l("Alguien intentó crear una cuenta con tu correo"),
            template="accounts/email/account_exists",
            dedupe_key=f"account-exists:{existing.id}:{utcnow():%Y%m%d%H}",
            context={
                "login_url": external_url("accounts.login"),
                "reset_url": external_url("accounts.forgot_password"),
            },
        )
        db.session.commit()
        return None
    now = utcnow()
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(data.password),
        sector=Sector(data.sector),
        state=data.state or None,
        locale=data.locale,
        timezone=data.timezone
        if is_valid_timezone(data.timezone)
        else current_app.config["DEFAULT_TIMEZONE"],
        privacy_version=current_app.config["PRIVACY_NOTICE_VERSION"],
        privacy_accepted_at=now,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # A simultaneous sign-up with the same address won the race: same answer.
        db.session.rollback()
        return None
    _notify_verification(user)
    db.session.commit()
    return user


def _notify_verification(user: User) -> None:
    token = sign({"uid": user.id, "email": user.email}, purpose=VERIFY_PURPOSE)
    notify(
        to=user,
        kind="account.verify",
        subject=_l("Confirma tu correo en Promueve"),
        template="accounts/email/verify",
        dedupe_key=f"verify:{user.id}:{time.time_ns()}",
        context={"verify_url": external_url("accounts.verify_email", token=token), "hours": 48},
        secrets=[token],
    )


def resend_verification(email: str) -> None:
    """Send a fresh verification link if the address has an unverified account."""
    user = find_user(email)
    if user is not None and not user.is_verified:
        _notify_verification(user)
        db.session.commit()


def verify_email(token: str) -> User:
    """Mark the account of a verification link as verified (idempotent)."""
    payload = unsign(token, purpose=VERIFY_PURPOSE, max_age=current_app.config["VERIFY_LINK_MAX_AGE"])
    user = db.session.get(User, payload.get("uid"))
    if user is None or user.deleted_at is not None or user.email != payload.get("email"):
        raise BadLink(expired=False)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        db.session.commit()
    return user


# --- login and passwords -----------------------------------------------------

_DUMMY_HASH: str | None = None


def authenticate(email: str, password: str) -> User | None:
    """The account these credentials open, rehashing the password when needed."""
    global _DUMMY_HASH
    user = find_user(email)
    if user is None:
        # Spend the same time as a real check so timing does not reveal accounts.
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(8))
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def _queue_lookup(task: str, email: str) -> None:
    """Hand work about an address to the worker, which looks the address up after the page
    has answered: the request takes the same time whether or not the account exists."""
    email = check_email(email)
    try:
        publish(task, [email])
    except Exception:  # noqa: BLE001 - broker down: the answer must not differ; they can ask again
        log.warning("could not queue %s", task)


def queue_password_reset(email: str) -> None:
    """A reset link for the address, if it has an account, sent by the worker."""
    _queue_lookup(PASSWORD_RESET_TASK, email)


def queue_verification_resend(email: str) -> None:
    """A fresh verification link for the address, if it has an unverified account, sent by
    the worker (the anonymous form reveals nothing by its timing)."""
    _queue_lookup(RESEND_VERIFICATION_TASK, email)


def request_password_reset(email: str) -> None:
    """Email a single-use reset link valid one hour, if the account exists (the worker's part)."""
    user = find_user(email)
    if user is None:
        return
    token = sign({"uid": user.id, "fp": fingerprint(user.password_hash)}, purpose=RESET_PURPOSE)
    notify(
        to=user,
        kind="account.reset",
        subject=_l("Restablece tu contraseña de Promueve"),
        template="accounts/email/reset",
        dedupe_key=f"reset:{user.id}:{time.time_ns()}",
        context={"reset_url": external_url("accounts.reset_password", token=token), "minutes": 60},
        secrets=[token],
    )
    db.session.commit()


def user_for_reset(token: str) -> User:
    """The account a reset link is for; BadLink when used, forged or expired."""
    payload = unsign(token, purpose=RESET_PURPOSE, max_age=current_app.config["RESET_LINK_MAX_AGE"])
    user = db.session.get(User, payload.get("uid"))
    if user is None or user.deleted_at is not None:
        raise BadLink(expired=False)
    # The link carries a fingerprint of the old hash: once the password changes
    # the same link no longer matches, which makes it single-use.
    if not secrets.compare_digest(str(payload.get("fp", "")), fingerprint(user.password_hash)):
        raise BadLink(expired=False)
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; every session, API token and calendar link
    of the account stops working (the person is told and can create new ones)."""
    user = user_for_reset(token)
    check_new_password(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link proved the mailbox
    credentials.revoke_credentials(user, credentials.EndReason.password_reset)
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Change the password after checking the current one; like a reset, it ends every
    session (this one too: the caller starts a fresh one) and revokes every token."""
    if not verify_password(user.password_hash, current):
        raise DomainError(_l("La contraseña actual no es correcta."), field="current_password", status=422)
    check_new_password(new, email=user.email, field="new_password")
    user.password_hash = hash_password(new)
    credentials.revoke_credentials(user, credentials.EndReason.password_changed)
    db.session.commit()


# --- profile and ARCO --------------------------------------------------------


def update_profile(
    user: User, *, name: str, locale: str, timezone: str, sector: str, state: str | None
) -> None:
    """Save the editable parts of a profile."""
    if not is_valid_timezone(timezone):
        raise DomainError(_l("Elige una zona horaria válida."), field="timezone", status=422)
    user.name = check_name(name)
    user.locale = locale
    user.timezone = timezone
    user.sector = Sector(sector)
    user.state = state or None
    db.session.commit()


# Other domains add their sections of a person's data through this registry.
PERSONAL_DATA_SECTIONS: dict[str, Any] = {}
ERASERS: list[Any] = []


def export_personal_data(user: User) -> dict[str, Any]:
    """Everything Promueve holds about a person (ARCO: access)."""
    tokens = db.session.execute(select(ApiToken).where(ApiToken.user_id == user.id)).scalars()
    actions = db.session.execute(
        select(AuditEntry).where(AuditEntry.actor_id == user.id).order_by(AuditEntry.id)
    ).scalars()
    data: dict[str, Any] = {
        "generated_at": utcnow().isoformat(),
        "account": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "sector": str(user.sector) if user.sector else None,
            "state": user.state,
            "locale": user.locale,
            "timezone": user.timezone,
            "is_admin": user.is_admin,
            "email_verified_at": user.email_verified_at.isoformat() if user.email_verified_at else None,
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "privacy_notice": {
                "version": user.privacy_version,
                "accepted_at": user.privacy_accepted_at.isoformat() if user.privacy_accepted_at else None,
            },
        },
        "memberships": [
            {"institution": m.institution.slug, "role": str(m.role), "since": m.created_at.isoformat()}
            for m in user.memberships
        ],
        "sessions": credentials.export_sessions(user),
        "api_tokens": [
            {
                "name": t.name,
                "prefix": t.prefix,
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in tokens
        ],
        "emails": notifications_for(user.id, user.email),
        "notifications": notification_data_for(user),
        "invitations": [
            {
                "institution": invitation.institution.slug,
                "role": str(invitation.role),
                "created_at": invitation.created_at.isoformat(),
                "accepted_at": invitation.accepted_at.isoformat() if invitation.accepted_at else None,
            }
            for invitation in db.session.execute(
                select(Invitation).where(Invitation.email == user.email).order_by(Invitation.id)
            ).scalars()
        ],
        "actions_recorded": [
            {"action": a.action, "object": f"{a.object_type}:{a.object_id}", "at": a.created_at.isoformat()}
            for a in actions
        ],
    }
    for name, collect in PERSONAL_DATA_SECTIONS.items():
        data[name] = collect(user)
    return data


def delete_account(user: User, password: str) -> None:
    """Erase a person's personal data, keeping anonymous aggregates (ARCO: cancel)."""
    if not verify_password(user.password_hash, password):
        raise DomainError(_l("La contraseña no es correcta."), field="password", status=422)
    anonymous_email = f"deleted-{user.id}-{secrets.token_hex(4)}@invalid"
    for membership in list(user.memberships):
        audit.record(
            "member.remove",
            membership.institution,
            actor=user,
            details={"user_id": user.id, "role": str(membership.role), "reason": "account deleted"},
        )
        db.session.delete(membership)
    for token in db.session.execute(select(ApiToken).where(ApiToken.user_id == user.id)).scalars():
        token.revoked_at = token.revoked_at or utcnow()
    erase_recipient(user.id, user.email, anonymous_email)
    now = utcnow()
    for invitation in db.session.execute(select(Invitation).where(Invitation.email == user.email)).scalars():
        invitation.email = anonymous_email
        if invitation.accepted_at is None and invitation.revoked_at is None:
            invitation.revoked_at = now
    for erase in ERASERS:
        erase(user)
    credentials.erase_sessions(user)
    user.email = anonymous_email
    user.name = ""
    user.state = None
    user.password_hash = unusable_password()
    user.is_admin = False
    user.deleted_at = utcnow()
    audit.record("user.delete", user, actor=user)
    db.session.commit()


# --- API tokens --------------------------------------------------------------


def issue_api_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a personal API token; the raw value is shown once and never stored.

    Only for verified addresses: a token taken by someone who signed up with another
    person's address would otherwise outlive the owner claiming the account.
    """
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de crear tokens de la API."),
            status=403,
            code="email_not_verified",
        )
    raw = "pmv_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=(name or "API").strip()[:100],
        token_hash=token_digest(raw),
        prefix=raw[:10],
    )
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.create", token, actor=user, details={"name": token.name})
    db.session.commit()
    return token, raw


def active_tokens(user: User) -> list[ApiToken]:
    """A person's tokens that still work."""
    return list(
        db.session.execute(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc())
        ).scalars()
    )


def revoke_api_token(actor: User, token: ApiToken) -> None:
    """Revoke a token (idempotent)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token.revoke", token, actor=actor)
        db.session.commit()


# --- institutions and memberships --------------------------------------------

INSTITUTION_FIELDS = (
    "name",
    "acronym",
    "government_order",
    "timezone",
    "website",
    "catalogue_url",
    "catalogue_kind",
    "catalogue_organization",
    "answer_days",
    "description",
)
OPTIONAL_INSTITUTION_FIELDS = {
    "acronym",
    "website",
    "catalogue_url",
    "catalogue_kind",
    "catalogue_organization",
    "description",
}
CATALOGUE_KINDS = ("ckan", "dcat")
# CKAN organisation names: lowercase letters, digits, "-" and "_" (they go into a search query).
CKAN_NAME_RE = re.compile(r"^[a-z0-9_-]{1,100}$")
MAX_ANSWER_DAYS = 60


def _proposed(institution: Institution, fields: dict[str, Any], key: str) -> Any:
    if fields.get(key) is None:
        return getattr(institution, key)
    value = fields[key].strip() if isinstance(fields[key], str) else fields[key]
    return value or None


def _check_catalogue(institution: Institution, fields: dict[str, Any]) -> None:
    """The catalogue settings must be usable together: an http(s) address, a known kind, and for
    CKAN the organisation whose datasets are mirrored."""
    url = _proposed(institution, fields, "catalogue_url")
    kind = _proposed(institution, fields, "catalogue_kind")
    organization = _proposed(institution, fields, "catalogue_organization")
    if url and not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        raise DomainError(
            _l("Escribe una dirección web completa, con https://."), field="catalogue_url", status=422
        )
    if kind is not None and kind not in CATALOGUE_KINDS:
        raise DomainError(_l("Elige CKAN o DCAT."), field="catalogue_kind", status=422)
    if kind and not url:
        raise DomainError(
            _l("Escribe la dirección del catálogo para poder traer sus datos."),
            field="catalogue_url",
            status=422,
        )
    if kind == "ckan" and not organization:
        raise DomainError(
            _l("En un catálogo CKAN escribe el nombre de la organización."),
            field="catalogue_organization",
            status=422,
        )
    if kind == "ckan" and not CKAN_NAME_RE.fullmatch(organization):
        raise DomainError(
            _l("Usa el nombre corto de la organización en CKAN: minúsculas, números, «-» y «_»."),
            field="catalogue_organization",
            status=422,
        )
    answer_days = fields.get("answer_days")
    if answer_days is not None and (
        isinstance(answer_days, bool)
        or not isinstance(answer_days, int)
        or not 1 <= answer_days <= MAX_ANSWER_DAYS
    ):
        raise DomainError(
            _l("El plazo de respuesta va de 1 a %(n)s días hábiles.", n=MAX_ANSWER_DAYS),
            field="answer_days",
            status=422,
        )


def create_institution(actor: User | None, *, slug: str, **fields: Any) -> Institution:
    """Create an institution (admins only; checked by the caller's policy call)."""
    slug = slug.strip().lower()
    if not SLUG_RE.fullmatch(slug) or len(slug) > 64:
        raise DomainError(_l("Usa solo minúsculas, números y guiones."), field="slug", status=422)
    if db.session.execute(select(Institution.id).where(Institution.slug == slug)).first():
        raise DomainError(_l("Ya existe una institución con ese identificador."), field="slug")
    institution = Institution(slug=slug)
    logo = _logo_of(fields)
    _apply_institution_fields(institution, fields)
    db.session.add(institution)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise DomainError(_l("Ya existe una institución con ese identificador."), field="slug") from exc
    if logo is not None:
        _set_logo(institution, logo, actor)
    audit.record("institution.create", institution, actor=actor, details={"slug": slug})
    db.session.commit()
    return institution


def update_institution(actor: User, institution: Institution, **fields: Any) -> None:
    """Edit an institution's public details; `logo` (bytes or a processed image) replaces the
    logo, `remove_logo=True` takes it off."""
    logo = _logo_of(fields)
    changed = _apply_institution_fields(institution, fields)
    if logo is not None:
        _set_logo(institution, logo, actor)
        changed.append("logo")
    elif fields.get("remove_logo") and institution.logo_image_id is not None:
        _set_logo(institution, None, actor)
        changed.append("logo")
    if changed:
        audit.record("institution.update", institution, actor=actor, details={"fields": changed})
        institution_updated.send(institution, changed=changed)
    db.session.commit()


def _apply_institution_fields(institution: Institution, fields: dict[str, Any]) -> list[str]:
    changed = []
    if "timezone" in fields and fields["timezone"] and not is_valid_timezone(fields["timezone"]):
        raise DomainError(_l("Elige una zona horaria válida."), field="timezone", status=422)
    _check_catalogue(institution, fields)
    for key in INSTITUTION_FIELDS:
        if fields.get(key) is None:
            continue
        value = fields[key].strip() if isinstance(fields[key], str) else fields[key]
        if key in OPTIONAL_INSTITUTION_FIELDS:
            value = value or None
        if getattr(institution, key) != value:
            changed.append(key)
            setattr(institution, key, value)
    return changed


def _logo_of(fields: dict[str, Any]) -> ProcessedImage | None:
    """The new logo, checked and re-encoded like every upload (core/images.py), before
    anything is written; None when the fields bring none."""
    logo = fields.get("logo")
    if logo is None or isinstance(logo, ProcessedImage):
        return logo
    return process_image(logo, "logo")


def _set_logo(institution: Institution, logo: ProcessedImage | None, actor: User | None) -> None:
    """Point the institution at its new logo (or none); the old picture goes when unused."""
    replaced = institution.logo_image_id
    image = None
    if logo is not None:
        image = store_image(
            logo, institution_id=institution.id, uploaded_by_id=actor.id if actor is not None else None
        )
    institution.logo_image_id = image.id if image is not None else None
    institution.logo = image
    prune_images([replaced])


def logo_dict(institution: Institution) -> dict[str, Any] | None:
    """The logo as the API shows it: paths of the picture and its thumbnail, and its size."""
    return image_dict(institution.logo)


register_image_references(
    lambda: select(Institution.logo_image_id).where(Institution.logo_image_id.is_not(None))
)


def members_of(institution: Institution) -> list[Membership]:
    """An institution's members with their accounts, liaisons first."""
    return list(
        db.session.execute(
            select(Membership)
            .join(Membership.user)
            .options(contains_eager(Membership.user))
            .where(Membership.institution_id == institution.id)
            .order_by(Membership.role, User.name)
        ).scalars()
    )


def open_invitations(institution: Institution) -> list[Invitation]:
    """Invitations not yet accepted, revoked or expired."""
    return list(
        db.session.execute(
            select(Invitation)
            .where(
                Invitation.institution_id == institution.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        ).scalars()
    )


def invite_member(actor: User, institution: Institution, email: str, role: str) -> Invitation:
    """Invite an address to take `role` in the institution (email with a link)."""
    email = check_email(email)
    role = InstitutionRole(role)
    existing_user = find_user(email)
    if existing_user is not None and existing_user.role_in(institution.id) is not None:
        raise DomainError(_l("Esa persona ya es parte de la institución."), field="email")
    # Replace an older open invitation for the same address.
    for old in db.session.execute(
        select(Invitation).where(
            Invitation.institution_id == institution.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    ).scalars():
        old.revoked_at = utcnow()
    db.session.flush()
    raw = secrets.token_urlsafe(32)
    invitation = Invitation(
        institution_id=institution.id,
        email=email,
        role=role,
        token_hash=token_digest(raw),
        invited_by_id=actor.id if actor else None,
        expires_at=utcnow() + timedelta(seconds=current_app.config["INVITATION_MAX_AGE"]),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "member.invite", institution, actor=actor, details={"invitation_id": invitation.id, "role": str(role)}
    )
    notify(
        to=existing_user or email,
        kind="institution.invitation",
        subject=_l("Te invitaron a %(institution)s en Promueve", institution=institution.name),
        template="accounts/email/invitation",
        dedupe_key=f"invitation:{invitation.id}",
        secrets=[raw],
        context={
            "institution": institution.display_name,
            "role": str(role),
            "inviter": actor.name if actor else "Promueve",
            "accept_url": external_url("accounts.accept_invitation", token=raw),
            "days": current_app.config["INVITATION_MAX_AGE"] // 86400,
        },
    )
    db.session.commit()
    return invitation


def invitation_for(token: str) -> Invitation:
    """The open invitation a link is for, or DomainError."""
    invitation = db.session.execute(
        select(Invitation).where(Invitation.token_hash == token_digest(token))
    ).scalar_one_or_none()
    if invitation is None or not invitation.is_open:
        raise DomainError(_l("Esta invitación no es válida, ya se usó o caducó."), status=404)
    return invitation


def accept_invitation(user: User, token: str) -> Membership:
    """Join an institution with the role of the invitation sent to this account's email."""
    invitation = invitation_for(token)
    if normalise_email(user.email) != invitation.email:
        raise DomainError(
            _l("Esta invitación es para %(email)s. Inicia sesión con esa cuenta.", email=invitation.email),
            status=403,
        )
    if not user.is_verified:
        # Whoever signed up with the address may not be its owner: the account must
        # prove the mailbox first (or its owner resets the password, which verifies it).
        raise DomainError(
            _l(
                "Confirma tu correo electrónico antes de aceptar la invitación: abre el enlace que te "
                "enviamos al crear tu cuenta o pide uno nuevo desde tu perfil."
            ),
            status=403,
            code="email_not_verified",
        )
    membership = Membership(user_id=user.id, institution_id=invitation.institution_id, role=invitation.role)
    db.session.add(membership)
    invitation.accepted_at = utcnow()
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise DomainError(_l("Ya eres parte de esta institución.")) from exc
    audit.record(
        "member.join",
        invitation.institution,
        actor=user,
        details={"user_id": user.id, "role": str(invitation.role), "invitation_id": invitation.id},
    )
    db.session.commit()
    return membership


def revoke_invitation(actor: User, invitation: Invitation) -> None:
    """Withdraw an open invitation."""
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = utcnow()
        audit.record(
            "invitation.revoke", invitation.institution, actor=actor, details={"invitation_id": invitation.id}
        )
        db.session.commit()


def _liaison_count(institution_id: int) -> int:
    # Lock the institution first (FOR UPDATE on PostgreSQL; SQLite already serialises
    # writers), so two liaisons removing each other cannot both see the other.
    db.session.execute(select(Institution.id).where(Institution.id == institution_id).with_for_update())
    return db.session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.institution_id == institution_id, Membership.role == InstitutionRole.liaison)
    ).scalar_one()


def change_member_role(actor: User, membership: Membership, role: str) -> None:
    """Make a member liaison or staff; an institution never loses its last liaison."""
    role = InstitutionRole(role)
    if membership.role == role:
        return
    if membership.role == InstitutionRole.liaison and _liaison_count(membership.institution_id) <= 1:
        raise DomainError(_l("La institución necesita al menos un Enlace de Datos Abiertos."))
    old = membership.role
    membership.role = role
    audit.record(
        "member.role_change",
        membership.institution,
        actor=actor,
        details={"user_id": membership.user_id, "from": str(old), "to": str(role)},
    )
    db.session.commit()


def remove_member(actor: User, membership: Membership) -> None:
    """Remove someone from an institution (never the last liaison)."""
    if membership.role == InstitutionRole.liaison and _liaison_count(membership.institution_id) <= 1:
        raise DomainError(_l("La institución necesita al menos un Enlace de Datos Abiertos."))
    audit.record(
        "member.remove",
        membership.institution,
        actor=actor,
        details={"user_id": membership.user_id, "role": str(membership.role)},
    )
    db.session.delete(membership)
    db.session.commit()


def add_member(actor: User | None, institution: Institution, user: User, role: str) -> Membership:
    """Give an existing account a role directly (CLI and seed)."""
    role = InstitutionRole(role)
    membership = db.session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.institution_id == institution.id)
    ).scalar_one_or_none()
    if membership is None:
        membership = Membership(user_id=user.id, institution_id=institution.id, role=role)
        db.session.add(membership)
        audit.record("member.add", institution, actor=actor, details={"user_id": user.id, "role": str(role)})
    elif membership.role != role:
        audit.record(
            "member.role_change",
            institution,
            actor=actor,
            details={"user_id": user.id, "from": str(membership.role), "to": str(role)},
        )
        membership.role = role
    db.session.commit()
    return membership


@dataclass
class AuditFilters:
    """What the audit log page is narrowed to."""

    institution_id: int | None = None
    actor: str | None = None  # words of the name or the email address
    action: str | None = None
    since: Any = None  # a date, in the viewer's zone
    until: Any = None


@dataclass
class AuditPage:
    """One page of the audit log, newest first."""

    items: list[AuditEntry]
    page: int
    has_next: bool


AUDIT_PAGE_SIZE = 50


def audit_entries(filters: AuditFilters | None = None, page: int = 1, zone: str | None = None) -> AuditPage:
    """A page of the audit log, newest first, narrowed by institution, actor, action and dates."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    filters = filters or AuditFilters()
    tz = ZoneInfo(zone or current_app.config["DEFAULT_TIMEZONE"])
    query = select(AuditEntry).options(selectinload(AuditEntry.actor), selectinload(AuditEntry.institution))
    if filters.institution_id is not None:
        query = query.where(AuditEntry.institution_id == filters.institution_id)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.actor:
        words = f"%{filters.actor.strip().lower()}%"
        query = query.where(
            AuditEntry.actor_id.in_(
                select(User.id).where(func.lower(User.name).like(words) | func.lower(User.email).like(words))
            )
        )
    if filters.since:
        query = query.where(AuditEntry.created_at >= datetime.combine(filters.since, time.min, tzinfo=tz))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=tz)
        query = query.where(AuditEntry.created_at < end)
    page = max(1, page)
    rows = list(
        db.session.execute(
            query.order_by(AuditEntry.id.desc())
            .limit(AUDIT_PAGE_SIZE + 1)
            .offset((page - 1) * AUDIT_PAGE_SIZE)
        ).scalars()
    )
    return AuditPage(items=rows[:AUDIT_PAGE_SIZE], page=page, has_next=len(rows) > AUDIT_PAGE_SIZE)


# --- accounts made by operators (CLI, seed) -----------------------------------


def create_user(
    email: str,
    password: str,
    *,
    name: str = "",
    admin: bool = False,
    verified: bool = False,
    sector: str = "citizen",
    check_password: bool = True,
) -> User:
    """Create an account without the sign-up flow (operators and imports)."""
    email = check_email(email)
    if check_password:
        check_new_password(password, email=email)
    if find_user(email) is not None:
        raise DomainError(_l("Ya existe una cuenta con ese correo."), field="email")
    if sector not in Sector.__members__:
        raise DomainError(_l("Elige un sector de la lista."), field="sector", status=422)
    now = utcnow()
    user = User(
        email=email,
        name=check_name(name or email.split("@")[0]),
        password_hash=hash_password(password),
        sector=Sector(sector),
        is_admin=admin,
        email_verified_at=now if verified else None,
        locale=current_app.config["DEFAULT_LOCALE"],
        timezone=current_app.config["DEFAULT_TIMEZONE"],
    )
    db.session.add(user)
    db.session.flush()
    if admin:
        audit.record("user.admin_grant", user, actor=None, details={"via": "cli"})
    return user


SECTOR_ALIASES = {
    "academia": "academia",
    "sociedad civil": "civil_society",
    "sector privado": "private_sector",
    "gobierno": "government",
    "periodismo": "journalism",
    "ciudadania": "citizen",
    "ciudadanía": "citizen",
}


def import_users(text: str) -> tuple[int, list[tuple[int, str]]]:
    """Create verified accounts from CSV `email,name,password[,sector]` in one transaction.

    Returns (created, errors by line). Nothing is saved when any row is bad.
    """
    reader = csv.reader(io.StringIO(text))
    errors: list[tuple[int, str]] = []
    created = 0
    seen: set[str] = set()
    for line_number, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if line_number == 1 and row[0].strip().lower() == "email":
            continue
        if len(row) < 3:
            errors.append((line_number, "expected email,name,password[,sector]"))
            continue
        email, name, password = (cell.strip() for cell in row[:3])
        sector_raw = row[3].strip().lower() if len(row) > 3 and row[3].strip() else "citizen"
        sector = SECTOR_ALIASES.get(sector_raw, sector_raw)
        if normalise_email(email) in seen:
            errors.append((line_number, f"{email}: repeated in the file"))
            continue
        seen.add(normalise_email(email))
        try:
            with db.session.begin_nested():
                create_user(email, password, name=name, verified=True, sector=sector)
            created += 1
        except DomainError as exc:
            errors.append((line_number, f"{email}: {exc.message}"))
    if errors:
        db.session.rollback()
        return 0, errors
    db.session.commit()
    return created, []


def follow_institution(user: User, institution: Institution) -> bool:
    """Follow an institution (told of its surveys and challenges); False if already following."""
    db.session.add(InstitutionFollow(user_id=user.id, institution_id=institution.id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def unfollow_institution(user: User, institution: Institution) -> bool:
    """Stop following an institution; False if the person was not following it."""
    result = db.session.execute(
        delete(InstitutionFollow).where(
            InstitutionFollow.user_id == user.id, InstitutionFollow.institution_id == institution.id
        )
    )
    db.session.commit()
    return bool(result.rowcount)


def follows(user: User, institution: Institution) -> bool:
    """Whether the person follows the institution."""
    return (
        db.session.execute(
            select(InstitutionFollow.id).where(
                InstitutionFollow.user_id == user.id, InstitutionFollow.institution_id == institution.id
            )
        ).first()
        is not None
    )


def follower_ids(institution_id: int) -> list[int]:
    """Ids of the active accounts that follow an institution (for notifications)."""
    return list(
        db.session.execute(
            select(InstitutionFollow.user_id)
            .join(User, User.id == InstitutionFollow.user_id)
            .where(InstitutionFollow.institution_id == institution_id, User.deleted_at.is_(None))
            .order_by(InstitutionFollow.user_id)
        ).scalars()
    )
