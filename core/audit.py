"""The append-only audit log: who did what to which object, and when."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


# --- reading the log: actions in words, objects as links -----------------------------------
# Each domain describes its own actions and objects (core imports no domain).

_ACTION_LABELS: dict[str, Any] = {}
_OBJECT_LINKS: dict[str, Callable[[str], str | None]] = {}


def describe_actions(labels: Mapping[str, Any]) -> None:
    """Register how actions read in the log (`{"event.publish": _l("publicó la actividad")}`)."""
    _ACTION_LABELS.update(labels)


def link_objects(object_type: str, build: Callable[[str], str | None]) -> None:
    """Register how to link an object of `object_type` from its id (None: no page)."""
    _OBJECT_LINKS[object_type] = build


def action_label(action: str) -> str:
    """An action in words, in the current language (the code itself when undescribed)."""
    label = _ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def known_actions() -> list[tuple[str, str]]:
    """Every described action with its words, sorted by the words (for filters)."""
    return sorted(((code, str(label)) for code, label in _ACTION_LABELS.items()), key=lambda item: item[1])


def object_link(entry: AuditEntry) -> str | None:
    """A link to the entry's object, when it has a page and still exists."""
    build = _OBJECT_LINKS.get(entry.object_type)
    if build is None or not entry.object_id:
        return None
    try:
        return build(entry.object_id)
    except Exception:  # noqa: BLE001 - a log line must render even if its object's page cannot
        return None
