"""Policy rules of notifications (registered when the package's views are imported)."""

from __future__ import annotations

from typing import Any

from core.models import User
from core.permissions import rule


@rule("notifications.outbox.manage")
def _manage_outbox(user: User, obj: Any) -> bool:
    # Delivery operations (retry, withhold, read any message) are for platform admins.
    return False


@rule("notifications.templates.preview")
def _preview_templates(user: User, obj: Any) -> bool:
    return False
