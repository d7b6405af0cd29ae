"""Policy rules of the events domain (registered with core.permissions at import)."""

from __future__ import annotations

from typing import Any

from core.choices import InstitutionRole
from core.models import User
from core.permissions import has_role, rule


@rule("events.manage")
def _manage_events(user: User, obj: Any) -> bool:
    """The institution's liaisons and staff manage its events, outcomes and stories."""
    return has_role(user, obj, InstitutionRole.liaison, InstitutionRole.staff)


@rule("events.view")
def _view_event(user: User, event: Any) -> bool:
    """Anyone sees what was ever published; what never was, only its managers."""
    if event is None:
        return False
    if event.published_at is not None:
        return True
    return has_role(user, event, InstitutionRole.liaison, InstitutionRole.staff)


@rule("events.consent")
def _consent(user: User, institution: Any) -> bool:
    """An institution's liaisons and staff accept or decline being named co-host or responsible."""
    return has_role(user, institution, InstitutionRole.liaison, InstitutionRole.staff)


def may_view(user: Any, event: Any) -> bool:
    """Whether anyone (signed in or not) may see this event: only if it was ever published,
    whatever its state since; otherwise only the people who manage it."""
    from core.permissions import can

    if event.published_at is not None:
        return True
    return can(user, "events.view", event)
