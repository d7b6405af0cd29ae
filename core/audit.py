"""The append-only audit log: who did what to which object, and when."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from core.extensions import db
from core.models import AuditEntry, User


def record(
    action: str,
    obj: Any = None,
    *,
    actor: User | None = None,
    institution_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current unit of work (committed with it)."""
    if actor is None and current_user and getattr(current_user, "is_authenticated", False):
        actor = current_user._get_current_object()
    if institution_id is None and obj is not None:
        institution_id = getattr(obj, "institution_id", None)
        if institution_id is None and type(obj).__name__ == "Institution":
            institution_id = obj.id
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "platform",
        object_id=str(obj.id) if obj is not None and getattr(obj, "id", None) else None,
        institution_id=institution_id,
        details=details or {},
    )
    db.session.add(entry)
    return entry
