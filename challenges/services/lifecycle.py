"""A challenge's content, versioned terms and lifecycle:
draft → published → open → closed → judging → results published → awarded, or cancelled
(from any state before awarded, with a reason, everyone told). Opening and closing on
time are done by the beat (`open_due_challenges`, `close_due_challenges`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from accounts import services as accounts_services
from challenges.models import (
    Challenge,
    ChallengeDataset,
    ChallengeStatus,
    ChallengeTerms,
    RubricCriterion,
    Team,
)
from challenges.services import notices
from challenges.services.common import (
    as_utc,
    clean_dataset_refs,
    clean_int,
    clean_text,
    get_challenge,
    invalid,
    lock_challenge,
)
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.timeutil import is_valid_timezone, utcnow

TRANSITIONS = {
    ChallengeStatus.draft: {ChallengeStatus.published, ChallengeStatus.open, ChallengeStatus.cancelled},
    ChallengeStatus.published: {ChallengeStatus.open, ChallengeStatus.cancelled},
    ChallengeStatus.open: {ChallengeStatus.closed, ChallengeStatus.cancelled},
    ChallengeStatus.closed: {ChallengeStatus.judging, ChallengeStatus.cancelled},
    ChallengeStatus.judging: {ChallengeStatus.results_published, ChallengeStatus.cancelled},
    ChallengeStatus.results_published: {ChallengeStatus.awarded, ChallengeStatus.cancelled},
    ChallengeStatus.awarded: set(),
    ChallengeStatus.cancelled: set(),
}
# Content that may still change once the challenge is open (the rules may not).
FIELDS = (
    "title",
    "summary",
    "problem",
    "expected_outcomes",
    "eligibility",
    "prizes",
    "categories",
    "terms",
    "timezone",
    "opens_at",
    "closes_at",
    "team_min",
    "team_max",
    "submission_limit",
    "jurors_per_submission",
    "community_vote",
    "scores_due_at",
    "rubric",
    "datasets",
    "event",
)
RULE_FIELDS = {"team_min", "team_max", "submission_limit", "rubric", "opens_at"}


def terms_digest(text: str) -> str:
    """SHA-256 of the exact terms text (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _clean_categories(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise invalid(_l("Escribe las categorías separadas por comas."), "categories")
    categories: list[str] = []
    for item in value:
        category = clean_text(item, "categories", 60)
        if category and category.lower() not in {c.lower() for c in categories}:
            categories.append(category)
    if len(categories) > 12:
        raise invalid(_l("Usa hasta 12 categorías."), "categories")
    return categories


def _clean_rubric(value: Any) -> list[tuple[str, float, str]]:
    if not isinstance(value, list | tuple) or not value:
        raise invalid(_l("La rúbrica necesita al menos un criterio con su peso."), "rubric")
    if len(value) > 20:
        raise invalid(_l("Usa hasta 20 criterios."), "rubric")
    rubric: list[tuple[str, float, str]] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise invalid(_l("Cada criterio necesita nombre y peso."), "rubric")
        name = clean_text(item.get("criterion"), "rubric", 120, required=True)
        description = clean_text(item.get("description"), "rubric", 1000) or ""
        try:
            weight = float(item.get("weight"))
        except (TypeError, ValueError):
            raise invalid(_l("Cada criterio necesita un peso mayor que cero."), "rubric") from None
        if not 0 < weight <= 1000 or weight != weight:
            raise invalid(_l("Cada criterio necesita un peso mayor que cero."), "rubric")
        if name.lower() in {r[0].lower() for r in rubric}:
            raise invalid(_l("Los criterios de la rúbrica deben tener nombres distintos."), "rubric")
        rubric.append((name, weight, description))
    return rubric


def _host_event(value: Any) -> int | None:
    from events import services as event_services

    if value in (None, ""):
        return None
    event_id = clean_int(value, "event", 1, 2**31 - 1)
    event = event_services.get_event(event_id)
    if event is None or str(event.kind) != "datathon" or str(event.status) == "cancelled":
        raise invalid(_l("Elige un datatón existente (no cancelado) como actividad anfitriona."), "event")
    return event.id


def _apply(challenge: Challenge, data: Mapping[str, Any], actor: User | None, *, creating: bool) -> set[str]:
    """Validate API-named fields and write them; returns the names that changed."""
    changed: set[str] = set()
    status = ChallengeStatus(challenge.status)
    if not creating and status not in (ChallengeStatus.draft, ChallengeStatus.published):
        locked = RULE_FIELDS & set(data)
        if status != ChallengeStatus.open:
            locked |= {"closes_at", "terms", "datasets", "event"} & set(data)
        if locked:
            raise DomainError(
                _l("Esto ya no se puede cambiar: el reto está %(status)s.", status=_status_label(status)),
                field=sorted(locked)[0],
                code="illegal_transition",
            )

    def put(name: str, value: Any, attribute: str | None = None) -> None:
        attribute = attribute or name
        if getattr(challenge, attribute) != value:
            setattr(challenge, attribute, value)
            changed.add(name)

    if "title" in data:
        put("title", clean_text(data["title"], "title", 200, required=True))
    if "summary" in data:
        put("summary", clean_text(data["summary"], "summary", 500) or "")
    for name in ("problem", "expected_outcomes", "eligibility", "prizes"):
        if name in data:
            put(name, clean_text(data[name], name, 20000, required=name == "problem") or "")
    if "categories" in data:
        put("categories", _clean_categories(data["categories"]))
    if data.get("timezone"):
        if not is_valid_timezone(str(data["timezone"])):
            raise invalid(_l("Elige una zona horaria válida."), "timezone")
        put("timezone", data["timezone"])
    zone = challenge.timezone
    for name in ("opens_at", "closes_at"):
        if name in data:
            value = as_utc(data[name], zone, name)
            if value is None:
                raise invalid(_l("Este campo es obligatorio."), name)
            put(name, value)
    if "scores_due_at" in data:
        put("scores_due_at", as_utc(data["scores_due_at"], zone, "scores_due_at"))
    for name, low, high in (
        ("team_min", 1, 50),
        ("team_max", 1, 50),
        ("submission_limit", 1, 20),
        ("jurors_per_submission", 1, 20),
    ):
        if name in data and data[name] not in (None, ""):
            put(name, clean_int(data[name], name, low, high))
    if "community_vote" in data:
        put("community_vote", bool(data["community_vote"]))
    if "event" in data:
        put("event", _host_event(data["event"]), "event_id")
    if "terms" in data:
        text_value = clean_text(data["terms"], "terms", 100000, required=True)
        current = challenge.current_terms
        if current is None or current.text != text_value:
            version = (current.version + 1) if current is not None else 1
            challenge.terms.append(
                ChallengeTerms(version=version, text=text_value, sha256=terms_digest(text_value))
            )
            challenge.terms_version = version
            changed.add("terms")
    if "rubric" in data:
        rubric = _clean_rubric(data["rubric"])
        current_rubric = [(c.name, c.weight, c.description) for c in challenge.rubric]
        if current_rubric != rubric:
            challenge.rubric.clear()
            db.session.flush()
            challenge.rubric.extend(
                RubricCriterion(position=n, name=name, weight=weight, description=description)
                for n, (name, weight, description) in enumerate(rubric)
            )
            changed.add("rubric")
    if "datasets" in data:
        refs = clean_dataset_refs(data["datasets"], "datasets")
        current_refs = [(d.dataset_id, d.title, d.url) for d in challenge.datasets]
        if current_refs != [(r["dataset_id"], r["title"], r["url"]) for r in refs]:
            challenge.datasets.clear()
            db.session.flush()
            challenge.datasets.extend(
                ChallengeDataset(dataset_id=r["dataset_id"], title=r["title"], url=r["url"]) for r in refs
            )
            changed.add("datasets")
    _check_consistency(challenge)
    return changed


def _check_consistency(challenge: Challenge) -> None:
    if challenge.opens_at is None or challenge.closes_at is None:
        raise invalid(_l("Indica cuándo abre y cuándo cierra el reto."), "opens_at")
    if challenge.closes_at <= challenge.opens_at:
        raise invalid(_l("El cierre debe ser posterior a la apertura."), "closes_at")
    if challenge.team_max < challenge.team_min:
        raise invalid(_l("El tamaño máximo del equipo no puede ser menor que el mínimo."), "team_max")
    if challenge.scores_due_at is not None and challenge.scores_due_at <= challenge.closes_at:
        raise invalid(_l("Las calificaciones deben vencer después del cierre."), "scores_due_at")
    if not challenge.terms:
        raise invalid(_l("Escribe las bases del reto."), "terms")


def _status_label(status: ChallengeStatus) -> str:
    from challenges.services.common import STATUS_LABELS

    return str(STATUS_LABELS[status]).lower()


def create_challenge(actor: User | None, institution: Institution, data: Mapping[str, Any]) -> Challenge:
    """Create a draft challenge of `institution` (terms version 1)."""
    for required in ("title", "problem", "terms", "opens_at", "closes_at", "rubric"):
        if data.get(required) in (None, "", []):
            raise invalid(_l("Este campo es obligatorio."), required)
    challenge = Challenge(
        institution_id=institution.id,
        institution=institution,
        status=ChallengeStatus.draft,
        timezone=institution.timezone or current_app.config["DEFAULT_TIMEZONE"],
        summary="",
        problem="",
        expected_outcomes="",
        eligibility="",
        prizes="",
        categories=[],
        team_min=1,
        team_max=5,
        submission_limit=1,
        jurors_per_submission=3,
        community_vote=False,
        terms_version=1,
        created_by_id=actor.id if actor else None,
    )
    ordered = {"timezone": data.get("timezone"), **{k: v for k, v in data.items() if k in FIELDS}}
    _apply(challenge, ordered, actor, creating=True)
    db.session.add(challenge)
    db.session.flush()
    audit.record("challenge.create", challenge, actor=actor, details={"title": challenge.title})
    db.session.commit()
    return challenge


def update_challenge(actor: User | None, challenge: Challenge, data: Mapping[str, Any]) -> Challenge:
    """Edit a challenge; new terms text makes a new version; a moved close moves reminders."""
    if challenge.status in (ChallengeStatus.awarded, ChallengeStatus.cancelled):
        raise DomainError(_l("Un reto premiado o cancelado ya no se edita."), code="illegal_transition")
    challenge = lock_challenge(challenge.id)
    old_close = challenge.closes_at
    ordered = {k: v for k, v in data.items() if k in FIELDS}
    if "timezone" in ordered:
        ordered = {"timezone": ordered.pop("timezone"), **ordered}
    changed = _apply(challenge, ordered, actor, creating=False)
    if not changed:
        db.session.rollback()
        return challenge
    now = utcnow()
    if challenge.closes_at != old_close:
        if (
            challenge.status in (ChallengeStatus.published, ChallengeStatus.open)
            and challenge.closes_at <= now
        ):
            raise invalid(_l("El nuevo cierre debe estar en el futuro."), "closes_at")
        notices.sync_deadline_reminders(challenge)
    if "scores_due_at" in changed:
        notices.schedule_jury_reminders(challenge)
    challenge.updated_at = now
    details: dict[str, Any] = {"fields": sorted(changed)}
    if "terms" in changed:
        details["terms_version"] = challenge.terms_version
    if challenge.closes_at != old_close:
        details.update(old_closes_at=old_close.isoformat(), new_closes_at=challenge.closes_at.isoformat())
    audit.record("challenge.update", challenge, actor=actor, details=details)
    db.session.commit()
    return challenge


def _transition(challenge: Challenge, target: ChallengeStatus) -> None:
    current = ChallengeStatus(challenge.status)
    if target not in TRANSITIONS[current]:
        raise DomainError(
            _l(
                "Un reto %(current)s no puede pasar a %(target)s.",
                current=_status_label(current),
                target=_status_label(target),
            ),
            code="illegal_transition",
        )
    challenge.status = target


def publish_challenge(actor: User | None, challenge: Challenge) -> Challenge:
    """Publish a draft: `published`, or `open` at once when opens_at has passed."""
    challenge = lock_challenge(challenge.id)
    now = utcnow()
    if challenge.status != ChallengeStatus.draft:
        _transition(challenge, ChallengeStatus.published)  # raises the 409
    if challenge.closes_at <= now:
        raise invalid(_l("No se puede publicar un reto que ya cerró."), "closes_at")
    if not challenge.rubric:
        raise invalid(_l("Publica la rúbrica con el reto: agrega al menos un criterio."), "rubric")
    challenge.published_at = challenge.updated_at = now
    if challenge.opens_at <= now:
        _transition(challenge, ChallengeStatus.open)
        _opened(challenge, now)
    else:
        _transition(challenge, ChallengeStatus.published)
    audit.record("challenge.publish", challenge, actor=actor, details={"status": str(challenge.status)})
    db.session.commit()
    return challenge


def _opened(challenge: Challenge, now) -> None:
    """Submissions open: followers of the institution are told."""
    challenge.opened_at = now
    if now >= challenge.closes_at:
        return  # opened late by the beat, already past its close: nothing to announce
    for user_id in accounts_services.follower_ids(challenge.institution_id):
        user = db.session.get(User, user_id)
        if user is None:
            continue
        notices.tell(
            user,
            challenge,
            kind="challenges.opened",
            subject=_l("Nuevo reto público: «%(title)s»", title=challenge.title),
            lines=[
                _l(
                    "La institución %(institution)s abrió el reto «%(title)s».",
                    institution=challenge.institution.name,
                    title=challenge.title,
                ),
                challenge.summary,
            ],
            dedupe_key=f"challenge-opened:{challenge.id}:{user_id}",
        )


def open_challenge(actor: User | None, challenge: Challenge) -> Challenge:
    """Open a published challenge once its opening time has come."""
    challenge = lock_challenge(challenge.id)
    now = utcnow()
    _transition(challenge, ChallengeStatus.open)
    if challenge.opens_at > now:
        raise DomainError(_l("El reto abre hasta la fecha de apertura."), code="illegal_transition")
    _opened(challenge, now)
    challenge.updated_at = now
    audit.record("challenge.open", challenge, actor=actor)
    db.session.commit()
    return challenge


def close_challenge(actor: User | None, challenge: Challenge) -> Challenge:
    """Close an open challenge at (or after) its closing time: memberships freeze."""
    challenge = lock_challenge(challenge.id)
    now = utcnow()
    _transition(challenge, ChallengeStatus.closed)
    if challenge.closes_at > now:
        raise DomainError(_l("El reto cierra hasta la fecha de cierre."), code="illegal_transition")
    challenge.closed_at = challenge.updated_at = now
    db.session.execute(
        update(Team)
        .where(Team.challenge_id == challenge.id, Team.frozen_at.is_(None))
        .values(frozen_at=now)
        .execution_options(synchronize_session=False)
    )
    notices.cancel_deadlines(challenge)
    audit.record("challenge.close", challenge, actor=actor)
    db.session.commit()
    return challenge


def start_judging(actor: User | None, challenge: Challenge) -> Challenge:
    """Move a closed challenge to judging (the jury may score)."""
    challenge = lock_challenge(challenge.id)
    _transition(challenge, ChallengeStatus.judging)
    challenge.updated_at = utcnow()
    audit.record("challenge.judging", challenge, actor=actor)
    db.session.commit()
    return challenge


def cancel_challenge(actor: User | None, challenge: Challenge, reason: Any) -> Challenge:
    """Cancel with a reason (from any state before awarded); every team and juror is told."""
    reason_text = clean_text(reason, "reason", 2000, required=True)
    challenge = lock_challenge(challenge.id)
    _transition(challenge, ChallengeStatus.cancelled)
    now = utcnow()
    challenge.cancel_reason = reason_text
    challenge.cancelled_at = challenge.updated_at = now
    notices.cancel_all(challenge)
    notices.tell_everyone(
        challenge,
        kind="challenges.cancelled",
        subject=_l("Se canceló el reto «%(title)s»", title=challenge.title),
        lines=[
            _l(
                "La institución %(institution)s canceló el reto «%(title)s».",
                institution=challenge.institution.name,
                title=challenge.title,
            ),
            _l("Motivo: %(reason)s", reason=reason_text),
        ],
        key=f"challenge-cancelled:{challenge.id}",
    )
    audit.record("challenge.cancel", challenge, actor=actor, details={"reason": reason_text})
    db.session.commit()
    return challenge


def open_due_challenges() -> int:
    """Beat: open every published challenge whose opening time has come."""
    now = utcnow()
    ids = (
        db.session.execute(
            select(Challenge.id).where(
                Challenge.status == ChallengeStatus.published, Challenge.opens_at <= now
            )
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    opened = 0
    for challenge_id in ids:
        challenge = get_challenge(challenge_id)
        try:
            open_challenge(None, challenge)
            opened += 1
        except DomainError:
            db.session.rollback()
    return opened


def close_due_challenges() -> int:
    """Beat: close every open (or published) challenge whose closing time has passed."""
    now = utcnow()
    ids = db.session.execute(
        select(Challenge.id, Challenge.status).where(
            Challenge.status.in_([ChallengeStatus.open, ChallengeStatus.published]),
            Challenge.closes_at <= now,
        )
    ).all()
    db.session.rollback()
    closed = 0
    for challenge_id, status in ids:
        challenge = get_challenge(challenge_id)
        try:
            if status == ChallengeStatus.published:
                open_challenge(None, challenge)
            close_challenge(None, challenge)
            closed += 1
        except DomainError:
            db.session.rollback()
    return closed
