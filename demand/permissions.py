"""Policy rules of the demand domain (registered with core.permissions at import)."""

from __future__ import annotations

from typing import Any

from core.choices import InstitutionRole
from core.models import User
from core.permissions import has_role, rule


@rule("demand.answer")
def _answer(user: User, obj: Any) -> bool:
    """The institution's liaisons and staff give its official answers."""
    return has_role(user, obj, InstitutionRole.liaison, InstitutionRole.staff)


@rule("demand.merge")
def _merge(user: User, obj: Any) -> bool:
    """The institution's liaisons merge duplicate items."""
    return has_role(user, obj, InstitutionRole.liaison)


@rule("demand.moderate")
def _moderate(user: User, obj: Any) -> bool:
    """The institution's liaisons and staff see flagged comments and hide them."""
    return has_role(user, obj, InstitutionRole.liaison, InstitutionRole.staff)


@rule("demand.report")
def _report(user: User, obj: Any) -> bool:
    """The institution's liaisons and staff see, refresh and export its demand report."""
    return has_role(user, obj, InstitutionRole.liaison, InstitutionRole.staff)


@rule("demand.deadline.move")
def _move_deadline(user: User, obj: Any) -> bool:
    """Only platform admins move a first-answer deadline (admins pass every rule)."""
    return False
