"""Small builders shared by the demand tests."""

from __future__ import annotations

from core.extensions import db
from demand import items
from demand.models import Dataset
from tests.factories import make_user


def citizen(
    email: str | None = None, *, sector: str = "academia", state: str = "Jalisco", locale: str = "es_MX"
):
    """A verified person with a sector and a state in the profile."""
    user = make_user(email)
    user.sector = sector
    user.state = state
    user.locale = locale
    db.session.commit()
    return user


def dataset(
    institution, title: str = "Censo de Población 2020", url: str | None = None, source_id: str | None = None
):
    row = Dataset(
        institution_id=institution.id,
        source_id=source_id or title.lower().replace(" ", "-"),
        title=title,
        description="Datos del catálogo",
        url=url or f"https://datos.example.org/{title.lower().replace(' ', '-')}",
    )
    db.session.add(row)
    db.session.commit()
    return row


def request(user, institution, title: str = "Accidentes de tránsito por municipio", **fields):
    fields.setdefault("kind", "publish")
    fields.setdefault("intended_use", "research")
    item, _created = items.file_request(user, institution, title=title, **fields)
    return item
