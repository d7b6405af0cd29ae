"""Institutions' consent: co-hosts named on an event and institutions named responsible for a
commitment accept or decline; until then they show as pending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.permissions import can
from core.timeutil import utcnow
from core.urls import external_url
from events.models import Commitment, ConsentStatus, Event, EventCohost
from events.services.common import institution_people, managed_institutions
from events.services.messages import email_context
from notifications.models import Category
from notifications.services import notify


def _consent_given_by(actor: User | None, institution: Institution) -> bool:
    """Whoever names their own institution (one of its liaisons or staff) consents for it."""
    return actor is not None and can(actor, "events.consent", institution)


def _sync_cohosts(
    event: Event, cohosts: list[Institution], actor: User | None, named: list[EventCohost]
) -> bool:
    """Keep the rows (and answers) of institutions still named, drop the others, add new ones
    pending unless `actor` may consent for them. Whether anything changed."""
    wanted = {institution.id: institution for institution in cohosts}
    existing = {row.institution_id: row for row in event.cohosts}
    removed = [row for institution_id, row in existing.items() if institution_id not in wanted]
    for row in removed:
        event.cohosts.remove(row)
    now = utcnow()
    added = 0
    for institution_id, institution in wanted.items():
        if institution_id in existing:
            continue
        added += 1
        row = EventCohost(institution_id=institution_id, institution=institution, requested_at=now)
        if _consent_given_by(actor, institution):
            row.status = ConsentStatus.accepted
            row.responded_at = now
            row.responded_by_id = actor.id
        else:
            row.status = ConsentStatus.pending
        event.cohosts.append(row)
        named.append(row)
    return bool(removed or added)


def _ask_consents(actor: User | None, event: Event, named: list[EventCohost]) -> None:
    """Audit newly named co-hosts and ask the pending ones (inside the caller's transaction)."""
    for row in named:
        slug = row.institution.slug
        if row.status == ConsentStatus.accepted:
            audit.record(
                "event.cohost.accept", event, actor=actor, details={"institution": slug, "automatic": True}
            )
            continue
        audit.record("event.cohost.request", event, actor=actor, details={"institution": slug})
        # The time makes the key unique even if SQLite reuses the id of a removed row.
        stamp = int(row.requested_at.timestamp())
        _notify_consent_request(event, row.institution, role="cohost", key=f"cohost-request:{row.id}:{stamp}")


def _consent_context(
    event: Event, institution: Institution, role: str, commitment: Commitment | None
) -> dict[str, Any]:
    return {
        **email_context(event),
        "named_institution": institution.display_name,
        "role": role,
        "commitment": commitment,
        "requests_url": external_url("events.consent_requests"),
    }


def _notify_consent_request(
    event: Event, institution: Institution, *, role: str, key: str, commitment: Commitment | None = None
) -> None:
    """Ask every liaison and staff member of `institution` (in-app and email, by their preferences)."""
    subject = (
        _l(
            "%(organizer)s propone a %(institution)s como co-organizadora de «%(title)s»",
            organizer=event.institution.display_name,
            institution=institution.display_name,
            title=event.title,
        )
        if role == "cohost"
        else _l(
            "Acuerdo de «%(title)s»: ¿%(institution)s es responsable?",
            institution=institution.display_name,
            title=event.title,
        )
    )
    for person in institution_people(institution.id):
        notify(
            to=person,
            kind=f"events.{role}_request",
            subject=subject,
            template="events/email/consent_request",
            dedupe_key=f"{key}:{person.id}",
            context=_consent_context(event, institution, role, commitment),
            category=Category.institution,
            link="/events/requests",
            summary=_l("Acepta o declina en Promueve; hasta entonces se muestra como pendiente."),
        )


def _notify_consent_answer(
    event: Event,
    institution: Institution,
    *,
    role: str,
    accepted: bool,
    key: str,
    commitment: Commitment | None = None,
) -> None:
    """Tell the organising institution's liaisons and staff what the named institution answered."""
    if accepted:
        subject = _l(
            "La institución %(institution)s aceptó: «%(title)s»",
            institution=institution.display_name,
            title=event.title,
        )
    else:
        subject = _l(
            "La institución %(institution)s declinó: «%(title)s»",
            institution=institution.display_name,
            title=event.title,
        )
    link = f"/events/{event.id}/outcome" if role == "commitment" else f"/events/{event.id}"
    for person in institution_people(event.institution_id):
        notify(
            to=person,
            kind=f"events.{role}_{'accepted' if accepted else 'declined'}",
            subject=subject,
            template="events/email/consent_answer",
            dedupe_key=f"{key}:{person.id}",
            context={**_consent_context(event, institution, role, commitment), "accepted": accepted},
            category=Category.institution,
            link=link,
        )


def _answer(current: ConsentStatus, accept: bool) -> ConsentStatus | None:
    """The new status, or None when this answer was already given (nothing to do)."""
    target = ConsentStatus.accepted if accept else ConsentStatus.declined
    if current == target:
        return None
    if current != ConsentStatus.pending:
        raise DomainError(
            _l("Tu institución ya respondió a esta solicitud."), code="illegal_transition", status=409
        )
    return target


def get_cohost(event_id: int, slug: str) -> EventCohost | None:
    """The co-host row of an institution (by slug) on an event."""
    return db.session.execute(
        select(EventCohost)
        .join(Institution, Institution.id == EventCohost.institution_id)
        .options(joinedload(EventCohost.event).joinedload(Event.institution))
        .where(EventCohost.event_id == event_id, Institution.slug == slug)
    ).scalar_one_or_none()


def answer_cohost(actor: User, cohost: EventCohost, *, accept: bool) -> EventCohost:
    """Accept or decline, for the named institution, being co-host of an event (audited)."""
    # Two people of the institution may answer at once: the row lock makes the first answer win.
    cohost = db.session.execute(
        select(EventCohost)
        .where(EventCohost.id == cohost.id)
        .with_for_update(of=EventCohost)
        .execution_options(populate_existing=True)
    ).scalar_one()
    target = _answer(ConsentStatus(cohost.status), accept)
    if target is None:
        return cohost
    event = cohost.event
    now = utcnow()
    cohost.status = target
    cohost.responded_at = now
    cohost.responded_by_id = actor.id
    event.updated_at = now
    audit.record(
        "event.cohost.accept" if accept else "event.cohost.decline",
        event,
        actor=actor,
        details={"institution": cohost.institution.slug},
    )
    _notify_consent_answer(
        event,
        cohost.institution,
        role="cohost",
        accepted=accept,
        key=f"cohost-answer:{cohost.id}:{int(cohost.requested_at.timestamp()) if cohost.requested_at else 0}",
    )
    db.session.commit()
    return cohost


def answer_responsibility(actor: User, commitment: Commitment, *, accept: bool) -> Commitment:
    """Accept or decline, for the named institution, being responsible for a commitment (audited)."""
    commitment = db.session.execute(
        select(Commitment)
        .where(Commitment.id == commitment.id)
        .with_for_update(of=Commitment)
        .execution_options(populate_existing=True)
    ).scalar_one()
    if commitment.responsible_institution is None:
        raise DomainError(_l("Este acuerdo no nombra a ninguna institución."), status=404)
    target = _answer(ConsentStatus(commitment.responsible_status), accept)
    if target is None:
        return commitment
    event = commitment.event
    now = utcnow()
    commitment.responsible_status = target
    commitment.responsible_responded_at = now
    commitment.responsible_responded_by_id = actor.id
    commitment.updated_at = now
    institution = commitment.responsible_institution
    audit.record(
        "commitment.responsible.accept" if accept else "commitment.responsible.decline",
        event,
        actor=actor,
        details={"commitment_id": commitment.id, "institution": institution.slug},
    )
    stamp = int(commitment.responsible_requested_at.timestamp()) if commitment.responsible_requested_at else 0
    _notify_consent_answer(
        event,
        institution,
        role="commitment",
        accepted=accept,
        key=f"commitment-answer:{commitment.id}:{institution.id}:{stamp}",
        commitment=commitment,
    )
    db.session.commit()
    return commitment


@dataclass
class ConsentRequests:
    """What an institution's people are asked to confirm."""

    cohosts: list[EventCohost]
    commitments: list[Commitment]

    @property
    def total(self) -> int:
        return len(self.cohosts) + len(self.commitments)


def consent_requests(user: User) -> ConsentRequests:
    """Pending co-host and commitment requests addressed to the institutions `user` answers for."""
    institution_ids = [i.id for i in managed_institutions(user) if can(user, "events.consent", i)]
    if not institution_ids:
        return ConsentRequests([], [])
    cohosts = db.session.execute(
        select(EventCohost)
        .options(joinedload(EventCohost.event).joinedload(Event.institution))
        .where(EventCohost.institution_id.in_(institution_ids), EventCohost.status == ConsentStatus.pending)
        .order_by(EventCohost.requested_at, EventCohost.id)
    ).scalars()
    commitments = db.session.execute(
        select(Commitment)
        .options(joinedload(Commitment.event).joinedload(Event.institution))
        .where(
            Commitment.responsible_institution_id.in_(institution_ids),
            Commitment.responsible_status == ConsentStatus.pending,
        )
        .order_by(Commitment.responsible_requested_at, Commitment.id)
    ).scalars()
    return ConsentRequests(list(cohosts), list(commitments))


def visible_cohosts(event: Event, *, manager: bool) -> list[EventCohost]:
    """Co-hosts as a page shows them: a declined one only to the organiser's managers."""
    return [c for c in event.cohosts if manager or c.status != ConsentStatus.declined]
