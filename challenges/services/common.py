"""Shared pieces of the challenges workflow: labels, input cleaning, reading and locks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from challenges.models import (
    Challenge,
    ChallengeStatus,
    ShowcaseKind,
    ShowcaseStatus,
    Submission,
    Team,
    TeamMember,
)
from core.exceptions import DomainError
from core.extensions import db
from core.timeutil import utcnow
from core.validation import as_utc, clean_text, clean_url, invalid  # noqa: F401 - re-exported

SPDX_FILE = Path(__file__).resolve().parent.parent / "data" / "spdx-licences.txt"
# Read by the locking functions; only the concurrency tests' control runs turn them off.
TEAM_LOCK_SETTING = "CHALLENGES_TEAM_LOCK"
CLOSE_CHECK_SETTING = "CHALLENGES_CLOSE_CHECK"
# Test hook: seconds to wait between the checks and the commit of a submission.
COMMIT_DELAY_SETTING = "CHALLENGES_TEST_COMMIT_DELAY"
MAX_TEAM_SIZE = 50
MAX_SUBMISSION_LIMIT = 20
PAGE_SIZE = 20

STATUS_LABELS = {
    ChallengeStatus.draft: _l("Borrador"),
    ChallengeStatus.published: _l("Publicado"),
    ChallengeStatus.open: _l("Abierto"),
    ChallengeStatus.closed: _l("Cerrado"),
    ChallengeStatus.judging: _l("En evaluación"),
    ChallengeStatus.results_published: _l("Resultados publicados"),
    ChallengeStatus.awarded: _l("Premiado"),
    ChallengeStatus.cancelled: _l("Cancelado"),
}
SHOWCASE_KIND_LABELS = {
    ShowcaseKind.app: _l("Aplicación"),
    ShowcaseKind.visualisation: _l("Visualización"),
    ShowcaseKind.tool: _l("Herramienta"),
    ShowcaseKind.research: _l("Investigación"),
    ShowcaseKind.article: _l("Artículo"),
}
SHOWCASE_STATUS_LABELS = {
    ShowcaseStatus.pending: _l("En revisión"),
    ShowcaseStatus.published: _l("Publicado"),
    ShowcaseStatus.rejected: _l("No aprobado"),
}


def clean_int(value: Any, field_name: str, low: int, high: int) -> int:
    """An integer within [low, high]."""
    if isinstance(value, bool):
        raise invalid(_l("Escribe un número entero."), field_name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(_l("Escribe un número entero."), field_name) from None
    if not low <= number <= high:
        raise invalid(_l("Escribe un número entre %(low)s y %(high)s.", low=low, high=high), field_name)
    return number


def clean_dataset_refs(value: Any, field_name: str) -> list[dict[str, Any]]:
    """Datasets as `{"dataset": id}` (a catalogue row) or `{"title", "url"}`, deduplicated."""
    from demand.models import Dataset

    if not value:
        return []
    if not isinstance(value, list | tuple) or len(value) > 30:
        raise invalid(_l("Indica hasta 30 conjuntos de datos."), field_name)
    refs: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = {"dataset": item}
        if not isinstance(item, Mapping):
            raise invalid(_l("Indica cada conjunto de datos con título y dirección."), field_name)
        dataset_id = item.get("dataset", item.get("dataset_id"))
        if dataset_id not in (None, ""):
            dataset_id = clean_int(dataset_id, field_name, 1, 2**31 - 1)
            dataset = db.session.get(Dataset, dataset_id)
            if dataset is None:
                raise invalid(_l("No existe el conjunto de datos %(id)s.", id=dataset_id), field_name)
            ref = {
                "dataset_id": dataset.id,
                "institution_id": dataset.institution_id,
                "title": dataset.title,
                "url": dataset.url,
            }
        else:
            url = clean_url(item.get("url"), field_name, required=True)
            ref = {
                "dataset_id": None,
                "institution_id": None,
                "title": clean_text(item.get("title"), field_name, 500) or url,
                "url": url,
            }
        key = (ref["dataset_id"], ref["url"])
        if key not in {(r["dataset_id"], r["url"]) for r in refs}:
            refs.append(ref)
    return refs


@lru_cache(maxsize=1)
def spdx_licences() -> tuple[str, ...]:
    """The SPDX licence identifiers a submission may choose (shipped list)."""
    lines = SPDX_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def clean_licence(value: Any) -> str:
    """An SPDX identifier from the list, matched without regard to case."""
    text_value = clean_text(value, "licence", 64, required=True)
    by_lower = {licence.lower(): licence for licence in spdx_licences()}
    if text_value.lower() not in by_lower:
        raise invalid(_l("Elige una licencia de la lista SPDX (por ejemplo MIT o Apache-2.0)."), "licence")
    return by_lower[text_value.lower()]


RFC_PATTERN = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}$")


def clean_rfc(value: Any) -> str | None:
    """A Mexican RFC (12 characters for companies, 13 for people) with a real date, or None."""
    text_value = clean_text(value, "rfc", 20)
    if text_value is None:
        return None
    rfc = text_value.upper().replace(" ", "").replace("-", "")
    if not RFC_PATTERN.match(rfc):
        raise invalid(
            _l("El RFC no tiene un formato válido (12 o 13 caracteres, p. ej. ABC010203XY1)."), "rfc"
        )
    digits = rfc[-9:-3]
    month, day = int(digits[2:4]), int(digits[4:6])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise invalid(
            _l("El RFC no tiene un formato válido (12 o 13 caracteres, p. ej. ABC010203XY1)."), "rfc"
        )
    return rfc


# --- reading ----------------------------------------------------------------------------


def get_challenge(challenge_id: int) -> Challenge | None:
    """A challenge with what its pages show."""
    return db.session.execute(
        select(Challenge)
        .where(Challenge.id == challenge_id)
        .options(
            joinedload(Challenge.institution),
            selectinload(Challenge.terms),
            selectinload(Challenge.datasets),
            selectinload(Challenge.rubric),
        )
    ).scalar_one_or_none()


def get_team(team_id: int) -> Team | None:
    """A team with its members."""
    return db.session.execute(
        select(Team)
        .where(Team.id == team_id)
        .options(selectinload(Team.members).joinedload(TeamMember.user), joinedload(Team.challenge))
    ).scalar_one_or_none()


def get_submission(submission_id: int) -> Submission | None:
    """A submission with its versions and team."""
    return db.session.execute(
        select(Submission)
        .where(Submission.id == submission_id)
        .options(
            selectinload(Submission.versions), joinedload(Submission.team), joinedload(Submission.challenge)
        )
    ).scalar_one_or_none()


def lock_challenge(challenge_id: int, *, shared: bool = False) -> Challenge:
    """The challenge row, re-read under a row lock. `shared` (FOR KEY SHARE) lets submissions
    run side by side while a close or a moved deadline, which take FOR UPDATE, waits for them."""
    query = select(Challenge).where(Challenge.id == challenge_id).execution_options(populate_existing=True)
    query = query.with_for_update(read=shared, key_share=shared)
    challenge = db.session.execute(query).scalar_one_or_none()
    if challenge is None:
        raise DomainError(_l("Este reto ya no existe."), status=404)
    return challenge


def lock_team(team_id: int) -> Team:
    """The team row FOR UPDATE: joining and submitting re-count under it."""
    query = select(Team).where(Team.id == team_id).execution_options(populate_existing=True)
    if current_app.config.get(TEAM_LOCK_SETTING, True):
        query = query.with_for_update()
    team = db.session.execute(query).scalar_one_or_none()
    if team is None:
        raise DomainError(_l("Este equipo ya no existe."), status=404)
    return team


def team_of(user: Any, challenge_id: int) -> Team | None:
    """The person's team in a challenge, if any."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.challenge_id == challenge_id, TeamMember.user_id == user.id)
    ).scalar_one_or_none()


def is_member(user: Any, team: Team) -> bool:
    """Whether the person belongs to the team."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return any(member.user_id == user.id for member in team.members)


def window_open(challenge: Challenge, now: datetime | None = None) -> bool:
    """Whether submissions are accepted now: published or open, between opens_at and closes_at."""
    now = now or utcnow()
    return (
        challenge.status in (ChallengeStatus.published, ChallengeStatus.open)
        and challenge.opens_at <= now < challenge.closes_at
    )


def before_close(challenge: Challenge, now: datetime | None = None) -> bool:
    """Whether teams may still form and change (published or open, before the close)."""
    now = now or utcnow()
    return challenge.status in (ChallengeStatus.published, ChallengeStatus.open) and now < challenge.closes_at
