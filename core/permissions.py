"""The one policy module: may this user do this to this object?

Every view and API handler asks `can` (or `require`, which raises 403). Rules are
small functions keyed by action name so a reader sees the whole policy at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import Forbidden

from core.choices import InstitutionRole
from core.models import ApiToken, Institution, User

Rule = Callable[[User, Any], bool]
_RULES: dict[str, Rule] = {}


def rule(action: str) -> Callable[[Rule], Rule]:
    """Register the rule for `action` (domains add their own at import time)."""

    def register(func: Rule) -> Rule:
        if action in _RULES:
            raise ValueError(f"rule {action!r} registered twice")
        _RULES[action] = func
        return func

    return register


def _authenticated(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def institution_of(obj: Any) -> int | None:
    """The institution id an object belongs to (the object itself for institutions)."""
    if isinstance(obj, Institution):
        return obj.id
    return getattr(obj, "institution_id", None)


def has_role(user: User, obj: Any, *roles: InstitutionRole) -> bool:
    """Whether `user` holds one of `roles` in the institution `obj` belongs to."""
    institution_id = institution_of(obj)
    if institution_id is None:
        return False
    role = user.role_in(institution_id)
    return role is not None and (not roles or role in roles)


def can(user: Any, action: str, obj: Any = None) -> bool:
    """Whether `user` may do `action` to `obj`. Admins may do everything."""
    if action not in _RULES:
        raise KeyError(f"no policy rule for {action!r}")
    if not _authenticated(user):
        return False
    if user.is_admin:
        return True
    return _RULES[action](user, obj)


def require(user: Any, action: str, obj: Any = None) -> None:
    """Raise 403 unless `can(user, action, obj)`."""
    if not can(user, action, obj):
        raise Forbidden()


@rule("platform.admin")
def _platform_admin(user: User, obj: Any) -> bool:
    return False


@rule("institution.create")
def _create_institution(user: User, obj: Any) -> bool:
    return False


@rule("institution.edit")
def _edit_institution(user: User, institution: Institution) -> bool:
    return has_role(user, institution, InstitutionRole.liaison)


@rule("institution.members.view")
def _view_members(user: User, institution: Institution) -> bool:
    return has_role(user, institution, InstitutionRole.liaison, InstitutionRole.staff)


@rule("institution.members.manage")
def _manage_members(user: User, institution: Institution) -> bool:
    return has_role(user, institution, InstitutionRole.liaison)


@rule("audit.read")
def _read_audit(user: User, obj: Any) -> bool:
    return False


@rule("token.revoke")
def _revoke_token(user: User, token: ApiToken) -> bool:
    return token is not None and token.user_id == user.id
