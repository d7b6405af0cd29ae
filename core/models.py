"""People, institutions, memberships, API tokens and the audit log."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.choices import GovernmentOrder, InstitutionRole, Sector
from core.extensions import db
from core.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from core.images import UploadedImage


def new_auth_id() -> str:
    """A random value for the legacy `auth_id` column (see User)."""
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    """A person with an account: citizen, specialised user, staff or admin."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    sector: Mapped[Sector | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8), default="es_MX")
    timezone: Mapped[str] = mapped_column(String(64), default="America/Mexico_City")
    is_admin: Mapped[bool] = mapped_column(default=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    privacy_version: Mapped[str | None] = mapped_column(String(32))
    privacy_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Was the login identifier before web sessions had records of their own (user_session);
    # nothing reads it now. Kept because SQLite cannot drop a UNIQUE column without
    # rebuilding the user table, which would cascade-delete every row that refers to it.
    auth_id: Mapped[str] = mapped_column(String(64), unique=True, default=new_auth_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Set (not stored) when a web session is started or loaded: the key of its session
    # record (accounts.credentials) and the record itself.
    session_key = None
    current_session = None

    def get_session_key(self) -> str:
        """Flask-Login identifier (its `id_attribute`): the session record's key, never the user id."""
        if not self.session_key:
            raise RuntimeError("start a session record before logging a person in")
        return self.session_key

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    @property
    def is_verified(self) -> bool:
        """Whether the person proved they own the email address."""
        return self.email_verified_at is not None

    def role_in(self, institution_id: int) -> InstitutionRole | None:
        """This person's role in an institution, if any."""
        for membership in self.memberships:
            if membership.institution_id == institution_id:
                return InstitutionRole(membership.role)
        return None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class Institution(db.Model):
    """A public institution that runs an open-data programme."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    acronym: Mapped[str | None] = mapped_column(String(32))
    government_order: Mapped[GovernmentOrder] = mapped_column(String(16), default=GovernmentOrder.federal)
    timezone: Mapped[str] = mapped_column(String(64), default="America/Mexico_City")
    website: Mapped[str | None] = mapped_column(String(500))
    catalogue_url: Mapped[str | None] = mapped_column(String(500))
    # The catalogue's software ("ckan" or "dcat") and, for CKAN, the organisation's name there.
    catalogue_kind: Mapped[str | None] = mapped_column(String(8))
    catalogue_organization: Mapped[str | None] = mapped_column(String(200))
    # Mexican working days the institution has to give a first answer to a data request.
    answer_days: Mapped[int] = mapped_column(default=10, server_default="10")
    description: Mapped[str | None] = mapped_column(Text)
    # An uploaded image (core/images.py: checked, re-encoded without metadata, served immutable).
    logo_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("image.id", ondelete="SET NULL", use_alter=True), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="institution", cascade="all, delete-orphan"
    )
    logo: Mapped[UploadedImage | None] = relationship(foreign_keys=[logo_image_id])

    @property
    def display_name(self) -> str:
        """Name with the acronym, as people refer to it."""
        return f"{self.name} ({self.acronym})" if self.acronym else self.name

    def __repr__(self) -> str:
        return f"<Institution {self.slug}>"


class InstitutionFollow(db.Model):
    """A person who follows an institution: told when it opens a survey, a challenge, ..."""

    __table_args__ = (UniqueConstraint("user_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(db.Model):
    """A person's role (liaison or staff) in one institution."""

    __table_args__ = (UniqueConstraint("user_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    role: Mapped[InstitutionRole] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    institution: Mapped[Institution] = relationship(back_populates="memberships", lazy="joined")


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class AuditEntry(db.Model):
    """One append-only line of the audit log."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id", ondelete="SET NULL"), index=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()
    institution: Mapped[Institution | None] = relationship()


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context, instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("the audit log is append-only")
