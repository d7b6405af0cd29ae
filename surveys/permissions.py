"""Policy rules of the surveys domain (registered with core.permissions at import)."""

from __future__ import annotations

from typing import Any

from core.choices import InstitutionRole
from core.models import User
from core.permissions import has_role, rule


@rule("surveys.manage")
def _manage_surveys(user: User, obj: Any) -> bool:
    """The institution's liaisons and staff build, run and read the raw answers of its surveys."""
    return has_role(user, obj, InstitutionRole.liaison, InstitutionRole.staff)
