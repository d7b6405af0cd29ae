"""Policy rules of the challenges domain (registered with core.permissions at import)."""

from __future__ import annotations

from typing import Any

from core.choices import InstitutionRole
from core.models import User
from core.permissions import can, has_role, rule


@rule("challenges.manage")
def _manage_challenges(user: User, obj: Any) -> bool:
    """The institution's liaisons and staff run its challenges (and answer, judge the gate)."""
    return has_role(user, obj, InstitutionRole.liaison, InstitutionRole.staff)


@rule("challenges.view")
def _view_challenge(user: User, challenge: Any) -> bool:
    """Drafts are seen by their managers only."""
    if challenge is None:
        return False
    if str(challenge.status) != "draft":
        return True
    return has_role(user, challenge, InstitutionRole.liaison, InstitutionRole.staff)


@rule("showcase.review")
def _review_showcase(user: User, item: Any) -> bool:
    """An admin, or a liaison/staff of the institution of one of the item's datasets."""
    if item is None:
        return False
    return any(
        d.institution_id is not None and user.role_in(d.institution_id) is not None for d in item.datasets
    )


def may_view(user: Any, challenge: Any) -> bool:
    """Whether anyone (signed in or not) may see this challenge: public unless a draft."""
    if str(challenge.status) != "draft":
        return True
    return can(user, "challenges.view", challenge)
