"""Small factories for the challenges tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from accounts.services import issue_api_token
from challenges import services
from core.extensions import db
from core.models import Institution, User
from core.timeutil import utcnow
from tests.factories import make_user

TERMS = "Bases del reto: las soluciones se publican con licencia abierta."
RUBRIC = [{"criterion": "Impacto", "weight": 2}, {"criterion": "Uso de datos", "weight": 1}]


def make_challenge(
    institution: Institution, *, actor: User | None = None, publish: bool = True, **fields: Any
):
    """A committed challenge, open now (published with opens_at passed) unless told otherwise."""
    now = utcnow().replace(microsecond=0)
    data = {
        "title": "Reto de movilidad",
        "summary": "Ideas para el transporte público.",
        "problem": "¿Cómo reducir los tiempos de traslado?",
        "terms": TERMS,
        "opens_at": now - timedelta(hours=1),
        "closes_at": now + timedelta(days=3),
        "team_min": 1,
        "team_max": 3,
        "submission_limit": 2,
        "rubric": RUBRIC,
        **fields,
    }
    challenge = services.create_challenge(actor, institution, data)
    if publish:
        services.publish_challenge(actor, challenge)
    return services.get_challenge(challenge.id)


def submission_data(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Rutas más cortas",
        "summary": "Una app que recomienda rutas con datos de GTFS.",
        "repository_url": "https://github.com/ejemplo/rutas",
        "licence": "MIT",
        "accept_terms": True,
        **fields,
    }


def bearer(user: User) -> dict[str, str]:
    _, raw = issue_api_token(user, "tests")
    return {"Authorization": f"Bearer {raw}"}


def user_with_token(**kwargs) -> tuple[User, dict[str, str]]:
    verified = kwargs.pop("verified", True)
    user = make_user(verified=True, **kwargs)
    headers = bearer(user)
    if not verified:
        # Unverified accounts get no token today: one issued before the address was unconfirmed.
        user.email_verified_at = None
        db.session.commit()
    return user, headers
