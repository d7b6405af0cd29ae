"""Teams: a verified person creates one and is its captain; others join by a signed link
(or an emailed one) under a row lock on the team, so the size limit holds under
concurrency; one team per person per challenge is a database constraint; membership
freezes at the close."""

from __future__ import annotations

import secrets
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from challenges.models import Challenge, MemberRole, Team, TeamInvitation, TeamMember
from challenges.services import notices
from challenges.services.common import (
    before_close,
    clean_rfc,
    clean_text,
    get_team,
    lock_team,
    team_of,
)
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.security import BadLink, sign, unsign
from core.timeutil import utcnow
from core.urls import external_url

INVITE_PURPOSE = "challenge-team-invite"
INVITE_MAX_AGE = 60 * 60 * 24 * 60


def _require_verified(user: User) -> None:
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de participar en retos."),
            status=403,
            code="email_not_verified",
        )


def _already_in_team() -> DomainError:
    return DomainError(_l("Ya formas parte de un equipo en este reto."), code="already_in_team")


def _frozen() -> DomainError:
    return DomainError(
        _l("El reto ya cerró: los equipos no cambian después del cierre."), code="membership_frozen"
    )


def invite_token(team: Team) -> str:
    """The team's signed invitation token (revoked when the captain renews it)."""
    return sign({"team": team.id, "nonce": team.invite_nonce}, purpose=INVITE_PURPOSE)


def invite_url(team: Team) -> str:
    return external_url("challenges.join_team", team_id=team.id, token=invite_token(team))


def member_count(team_id: int) -> int:
    return db.session.execute(
        select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)
    ).scalar_one()


def create_team(user: User, challenge: Challenge, name: Any) -> Team:
    """Create a team and make `user` its captain."""
    _require_verified(user)
    team_name = clean_text(name, "name", 120, required=True)
    if not before_close(challenge):
        raise DomainError(_l("Este reto no acepta equipos ahora."), code="submissions_closed")
    if team_of(user, challenge.id) is not None:
        raise _already_in_team()
    taken = db.session.execute(
        select(Team.id).where(Team.challenge_id == challenge.id, func.lower(Team.name) == team_name.lower())
    ).first()
    if taken is not None:
        raise DomainError(
            _l("Ya hay un equipo con ese nombre en este reto."), field="name", code="name_taken"
        )
    team = Team(
        challenge_id=challenge.id,
        name=team_name,
        captain_id=user.id,
        invite_nonce=secrets.token_hex(8),
    )
    db.session.add(team)
    try:
        db.session.flush()
        db.session.add(
            TeamMember(team_id=team.id, challenge_id=challenge.id, user_id=user.id, role=MemberRole.captain)
        )
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _already_in_team() from None
    notices.schedule_deadline_reminders(challenge, [user])
    audit.record(
        "challenge.team.create",
        team,
        actor=user,
        institution_id=challenge.institution_id,
        details={"challenge_id": challenge.id, "name": team_name},
    )
    db.session.commit()
    return team


def team_from_token(token: str) -> Team:
    """The team a signed invitation names (403 for a forged, expired or renewed link)."""
    try:
        payload = unsign(token or "", purpose=INVITE_PURPOSE, max_age=INVITE_MAX_AGE)
    except BadLink as exc:
        raise DomainError(
            _l("La invitación venció.") if exc.expired else _l("La invitación no es válida."),
            status=403,
            code="invalid_invite",
        ) from None
    team = get_team(int(payload.get("team", 0))) if isinstance(payload, dict) else None
    if team is None or payload.get("nonce") != team.invite_nonce:
        raise DomainError(_l("La invitación no es válida."), status=403, code="invalid_invite")
    return team


def join_team(user: User, team: Team, token: str) -> TeamMember:
    """Join a team with its invitation: under the team's row lock, re-count, then insert."""
    _require_verified(user)
    invited = team_from_token(token)
    if invited.id != team.id:
        raise DomainError(_l("La invitación es de otro equipo."), status=403, code="invalid_invite")
    challenge = team.challenge
    if team_of(user, challenge.id) is not None:
        raise _already_in_team()
    team = lock_team(team.id)
    if not before_close(challenge) or team.frozen_at is not None:
        raise _frozen()
    if member_count(team.id) >= challenge.team_max:
        raise DomainError(
            _l("El equipo ya tiene %(n)s integrantes, el máximo del reto.", n=challenge.team_max),
            code="team_full",
        )
    member = TeamMember(team_id=team.id, challenge_id=challenge.id, user_id=user.id, role=MemberRole.member)
    db.session.add(member)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _already_in_team() from None
    now = utcnow()
    db.session.execute(
        TeamInvitation.__table__.update()
        .where(TeamInvitation.team_id == team.id, func.lower(TeamInvitation.email) == user.email.lower())
        .values(accepted_at=now)
    )
    notices.schedule_deadline_reminders(challenge, [user])
    if team.captain_id and team.captain_id != user.id:
        captain = db.session.get(User, team.captain_id)
        if captain is not None and captain.deleted_at is None:
            notices.tell(
                captain,
                challenge,
                kind="challenges.member_joined",
                subject=_l("%(name)s se unió a «%(team)s»", name=user.name, team=team.name),
                lines=[_l("%(name)s se unió a tu equipo «%(team)s».", name=user.name, team=team.name)],
                dedupe_key=f"challenge-team-joined:{team.id}:{user.id}",
                link=external_url("challenges.team", team_id=team.id),
            )
    audit.record(
        "challenge.team.join",
        team,
        actor=user,
        institution_id=challenge.institution_id,
        details={"user_id": user.id},
    )
    db.session.commit()
    return member


def invite_by_email(actor: User, team: Team, email: Any) -> TeamInvitation:
    """Send the team's invitation link to an address (anyone in the team may)."""
    challenge = team.challenge
    if not before_close(challenge) or team.frozen_at is not None:
        raise _frozen()
    raw = clean_text(email, "email", 254, required=True)
    try:
        address = validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(_l("Escribe un correo electrónico válido."), field="email", status=422) from None
    invitation = db.session.execute(
        select(TeamInvitation).where(
            TeamInvitation.team_id == team.id, func.lower(TeamInvitation.email) == address.lower()
        )
    ).scalar_one_or_none()
    if invitation is None:
        invitation = TeamInvitation(team_id=team.id, email=address, invited_by_id=actor.id)
        db.session.add(invitation)
        db.session.flush()
    notices.tell(
        address,
        challenge,
        kind="challenges.team_invitation",
        subject=_l("%(name)s te invita al equipo «%(team)s»", name=actor.name, team=team.name),
        lines=[
            _l(
                "%(name)s te invita a su equipo «%(team)s» en el reto «%(title)s».",
                name=actor.name,
                team=team.name,
                title=challenge.title,
            ),
            _l("Abre el enlace para unirte (necesitas una cuenta con el correo confirmado)."),
        ],
        dedupe_key=f"challenge-team-invite:{team.id}:{address.lower()}:{team.invite_nonce}",
        link=invite_url(team),
        transactional=True,
    )
    audit.record(
        "challenge.team.invite",
        team,
        actor=actor,
        institution_id=challenge.institution_id,
        details={"email": address},
    )
    db.session.commit()
    return invitation


def renew_invite(actor: User, team: Team) -> Team:
    """A new invitation link; links already shared stop working (captain only)."""
    _require_captain(actor, team)
    team.invite_nonce = secrets.token_hex(8)
    audit.record(
        "challenge.team.renew_invite", team, actor=actor, institution_id=team.challenge.institution_id
    )
    db.session.commit()
    return team


def _require_captain(actor: User, team: Team) -> None:
    if team.captain_id != actor.id and not actor.is_admin:
        raise DomainError(_l("Solo la persona capitana del equipo puede hacer esto."), status=403)


def leave_team(user: User, team: Team) -> None:
    """Leave a team before the close (the captain leaves last)."""
    challenge = team.challenge
    team = lock_team(team.id)
    if not before_close(challenge) or team.frozen_at is not None:
        raise _frozen()
    member = db.session.execute(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    ).scalar_one_or_none()
    if member is None:
        raise DomainError(_l("No formas parte de este equipo."), status=404)
    if member.role == MemberRole.captain and member_count(team.id) > 1:
        raise DomainError(_l("Pasa la capitanía a otra persona antes de salir del equipo."))
    db.session.delete(member)
    notices.drop_member_reminders(challenge, user.id)
    audit.record("challenge.team.leave", team, actor=user, institution_id=challenge.institution_id)
    db.session.commit()


def transfer_captaincy(actor: User, team: Team, user_id: int) -> Team:
    """Give the captaincy to another member."""
    _require_captain(actor, team)
    target = db.session.execute(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
    ).scalar_one_or_none()
    if target is None:
        raise DomainError(_l("Esa persona no forma parte del equipo."), status=422, field="user")
    for member in team.members:
        member.role = MemberRole.captain if member.user_id == user_id else MemberRole.member
    team.captain_id = user_id
    audit.record("challenge.team.captain", team, actor=actor, details={"user_id": user_id})
    db.session.commit()
    return team


def set_legal_entity(actor: User, team: Team, legal_name: Any, rfc: Any) -> Team:
    """The legal entity that would sign a contract (name and RFC, both or neither)."""
    _require_captain(actor, team)
    name = clean_text(legal_name, "legal_name", 300)
    rfc_value = clean_rfc(rfc)
    if bool(name) != bool(rfc_value):
        raise DomainError(
            _l("Indica la razón social y el RFC juntos (o deja ambos vacíos)."),
            field="rfc" if name else "legal_name",
            status=422,
        )
    team.legal_name, team.rfc = name, rfc_value
    audit.record("challenge.team.legal_entity", team, actor=actor, details={"rfc": rfc_value})
    db.session.commit()
    return team
