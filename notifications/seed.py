"""Demo data of notifications: a welcome in every demo account's notification centre
(`flask seed-demo`; running it twice changes nothing)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from core.models import User
from notifications import services


def seed_notifications(emails: list[str]) -> None:
    """A welcome entry, pointing at the preferences page, for each of these accounts."""
    users = db.session.execute(select(User).where(User.email.in_(emails))).scalars()
    for user in users:
        services.notify_in_app(
            to=user,
            kind="notifications.welcome",
            title=_l("Bienvenida a Promueve: elige cómo quieres recibir tus avisos"),
            body=_l("Por correo de inmediato, en un resumen diario o semanal, solo aquí, o nada."),
            link="/notifications/preferences",
            dedupe_key=f"welcome:{user.id}",
        )
    db.session.commit()
