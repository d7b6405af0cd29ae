"""What challenges tell people: immediate messages through the outbox and deadline and
jury reminders on the ledger (rows with fire_at and a checksum, so a moved deadline
moves them and a stale row is skipped at fire time)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from challenges.models import (
    Assignment,
    Challenge,
    ChallengeStatus,
    Juror,
    Score,
    Submission,
    Team,
    TeamMember,
)
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from notifications.models import Category, ScheduledNotification
from notifications.services import (
    RenderedReminder,
    cancel_scheduled,
    notify,
    register_preview,
    register_renderer,
    schedule,
)

DEADLINE_KIND = "challenges.deadline"
JURY_KIND = "challenges.jury_reminder"
DEADLINE_OFFSETS = {"48h": timedelta(hours=48), "2h": timedelta(hours=2)}
JURY_OFFSETS = {"48h": timedelta(hours=48)}


def subject_of(challenge: Challenge | int) -> str:
    """The ledger subject of a challenge's rows."""
    return f"challenge:{challenge if isinstance(challenge, int) else challenge.id}"


def _challenge_id(row: ScheduledNotification) -> int | None:
    prefix, _, value = row.subject.partition(":")
    return int(value) if prefix == "challenge" and value.isdigit() else None


def challenge_url(challenge: Challenge) -> str:
    return external_url("challenges.detail", challenge_id=challenge.id)


def tell(
    to: User | str,
    challenge: Challenge,
    *,
    kind: str,
    subject: Any,
    lines: list[Any],
    dedupe_key: str,
    link: str | None = None,
    transactional: bool = False,
) -> None:
    """One message about a challenge (inside the caller's transaction; sent after commit)."""
    url = link or challenge_url(challenge)
    notify(
        to=to,
        kind=kind,
        subject=subject,
        template="challenges/email/notice",
        dedupe_key=dedupe_key,
        context={
            "lines": lines,
            "url": url,
            "challenge_title": challenge.title,
            "institution_name": challenge.institution.name,
        },
        category=None if transactional else Category.challenges,
        link=url,
        summary=lines[0] if lines else None,
    )


def team_members(challenge_id: int) -> list[tuple[Team, User]]:
    """Every (team, member) of a challenge, for announcements."""
    rows = db.session.execute(
        select(Team, User)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(User, User.id == TeamMember.user_id)
        .where(Team.challenge_id == challenge_id, User.deleted_at.is_(None))
        .order_by(Team.id, TeamMember.id)
    ).all()
    return [(team, user) for team, user in rows]


def juror_users(challenge_id: int) -> list[tuple[Juror, User]]:
    rows = db.session.execute(
        select(Juror, User)
        .join(User, User.id == Juror.user_id)
        .where(Juror.challenge_id == challenge_id, User.deleted_at.is_(None))
        .order_by(Juror.id)
    ).all()
    return [(juror, user) for juror, user in rows]


def tell_everyone(
    challenge: Challenge, *, kind: str, subject: Any, lines: list[Any], key: str, jurors: bool = True
) -> int:
    """Tell every team member (and juror) of a challenge, once each."""
    told: set[int] = set()
    recipients: list[User] = [user for _team, user in team_members(challenge.id)]
    if jurors:
        recipients += [user for _juror, user in juror_users(challenge.id)]
    for user in recipients:
        if user.id in told:
            continue
        told.add(user.id)
        tell(user, challenge, kind=kind, subject=subject, lines=lines, dedupe_key=f"{key}:{user.id}")
    return len(told)


# --- deadline reminders ---------------------------------------------------------------------


def deadline_checksum(challenge: Challenge, offset_key: str) -> str:
    """What a deadline reminder announces: the close. A moved close reschedules it."""
    return hashlib.sha256(f"{offset_key}\x1f{challenge.closes_at.isoformat()}".encode()).hexdigest()


def schedule_deadline_reminders(challenge: Challenge, users: Iterable[User]) -> int:
    """48 h and 2 h before the close, for each person (skipped at fire time if their team
    already has a submission); times already past are left out."""
    if challenge.status not in (ChallengeStatus.published, ChallengeStatus.open):
        return 0
    now = utcnow()
    count = 0
    for user in users:
        for key, before in DEADLINE_OFFSETS.items():
            fire_at = challenge.closes_at - before
            if fire_at <= now:
                continue
            schedule(
                kind=DEADLINE_KIND,
                subject=subject_of(challenge),
                recipient=user,
                fire_at=fire_at,
                offset_key=key,
                checksum=deadline_checksum(challenge, key),
                category=Category.challenges,
                expires_at=challenge.closes_at,
            )
            count += 1
    return count


def sync_deadline_reminders(challenge: Challenge) -> int:
    """After the close moved: every member's reminders follow it (past ones dropped)."""
    cancel_scheduled(subject=subject_of(challenge), kind=DEADLINE_KIND)
    return schedule_deadline_reminders(challenge, [user for _team, user in team_members(challenge.id)])


def drop_member_reminders(challenge: Challenge, user_id: int) -> None:
    cancel_scheduled(subject=subject_of(challenge), kind=DEADLINE_KIND, recipient_id=user_id)


def cancel_deadlines(challenge: Challenge) -> None:
    cancel_scheduled(subject=subject_of(challenge), kind=DEADLINE_KIND)


def cancel_all(challenge: Challenge) -> None:
    cancel_scheduled(subject=subject_of(challenge))


def _jury_checksum(challenge: Challenge, key: str) -> str:
    due = challenge.scores_due_at.isoformat() if challenge.scores_due_at else ""
    return hashlib.sha256(f"jury\x1f{key}\x1f{due}".encode()).hexdigest()


def schedule_jury_reminders(challenge: Challenge) -> int:
    """Remind each assigned juror 48 h before scores are due (when the challenge sets a date)."""
    cancel_scheduled(subject=subject_of(challenge), kind=JURY_KIND)
    if challenge.scores_due_at is None:
        return 0
    now = utcnow()
    count = 0
    assigned = db.session.execute(
        select(User)
        .join(Juror, Juror.user_id == User.id)
        .where(
            Juror.challenge_id == challenge.id,
            exists().where(Assignment.juror_id == Juror.id),
        )
    ).scalars()
    for user in assigned:
        for key, before in JURY_OFFSETS.items():
            fire_at = challenge.scores_due_at - before
            if fire_at <= now:
                continue
            schedule(
                kind=JURY_KIND,
                subject=subject_of(challenge),
                recipient=user,
                fire_at=fire_at,
                offset_key=key,
                checksum=_jury_checksum(challenge, key),
                category=Category.challenges,
                expires_at=challenge.scores_due_at,
            )
            count += 1
    return count


# --- renderers --------------------------------------------------------------------------------


def _lazy(func) -> LazyString:
    return LazyString(func)


def _context(challenge: Challenge, lines: list[Any], url: str) -> dict[str, Any]:
    return {
        "lines": lines,
        "url": url,
        "challenge_title": challenge.title,
        "institution_name": challenge.institution.name,
    }


def render_deadline(row: ScheduledNotification) -> RenderedReminder | None:
    """A deadline reminder, if still true: window open, same close, team without a submission."""
    from challenges.services.common import get_challenge, team_of, window_open
    from core.i18n import format_in_zone

    challenge_id = _challenge_id(row)
    challenge = get_challenge(challenge_id) if challenge_id else None
    if challenge is None or not window_open(challenge):
        return RenderedReminder.skip("challenge not open")
    if row.checksum != deadline_checksum(challenge, row.offset_key):
        return RenderedReminder.skip("outdated version")
    user = row.recipient
    team = team_of(user, challenge.id)
    if team is None:
        return RenderedReminder.skip("not in a team")
    has_submission = db.session.execute(
        select(Submission.id).where(Submission.team_id == team.id).limit(1)
    ).first()
    if has_submission is not None:
        return RenderedReminder.skip("team already submitted")
    title = challenge.title
    closes = challenge.closes_at
    zone = challenge.timezone
    url = challenge_url(challenge)
    return RenderedReminder(
        subject=_lazy(lambda: _("Cierra pronto: «%(title)s»", title=title)),
        template="challenges/email/notice",
        context=_context(
            challenge,
            [
                _l(
                    "Tu equipo «%(team)s» todavía no envía una solución a «%(title)s».",
                    team=team.name,
                    title=title,
                ),
                _lazy(lambda: _("El reto cierra el %(when)s.", when=format_in_zone(closes, zone))),
            ],
            url,
        ),
        link=url,
        summary=_lazy(lambda: _("El reto cierra el %(when)s.", when=format_in_zone(closes, zone))),
    )


def render_jury_reminder(row: ScheduledNotification) -> RenderedReminder | None:
    """A juror's reminder, while they have assigned submissions without a score."""
    from challenges.services.common import get_challenge
    from core.i18n import format_in_zone

    challenge_id = _challenge_id(row)
    challenge = get_challenge(challenge_id) if challenge_id else None
    if challenge is None or challenge.status != ChallengeStatus.judging or challenge.panel_locked_at:
        return RenderedReminder.skip("not judging")
    if row.checksum != _jury_checksum(challenge, row.offset_key):
        return RenderedReminder.skip("outdated version")
    juror = db.session.execute(
        select(Juror).where(Juror.challenge_id == challenge.id, Juror.user_id == row.recipient_id)
    ).scalar_one_or_none()
    if juror is None:
        return RenderedReminder.skip("no longer a juror")
    pending = db.session.execute(
        select(Assignment.id).where(
            Assignment.juror_id == juror.id,
            ~exists().where(Score.juror_id == juror.id, Score.submission_id == Assignment.submission_id),
        )
    ).all()
    if not pending:
        return RenderedReminder.skip("all scored")
    count = len(pending)
    title = challenge.title
    due, zone = challenge.scores_due_at, challenge.timezone
    url = external_url("challenges.jury", challenge_id=challenge.id)
    return RenderedReminder(
        subject=_lazy(lambda: _("Te faltan evaluaciones en «%(title)s»", title=title)),
        template="challenges/email/notice",
        context=_context(
            challenge,
            [
                _l("Tienes %(n)s soluciones asignadas sin calificar.", n=count),
                _lazy(lambda: _("Las calificaciones vencen el %(when)s.", when=format_in_zone(due, zone))),
            ],
            url,
        ),
        link=url,
        summary=_l("Tienes %(n)s soluciones asignadas sin calificar.", n=count),
    )


register_renderer(DEADLINE_KIND, render_deadline)
register_renderer(JURY_KIND, render_jury_reminder)


def _preview_sample() -> dict[str, Any]:
    return {
        "lines": [
            _l(
                "Tu equipo «%(team)s» todavía no envía una solución a «%(title)s».",
                team="Ruta Clara",
                title="Reto de movilidad segura",
            ),
            _l("El reto cierra el %(when)s.", when="9 dic 2026, 18:00 CST"),
        ],
        "url": "https://promueve.example/challenges/1",
        "challenge_title": "Reto de movilidad segura",
        "institution_name": "Agencia Digital de Innovación Pública",
    }


register_preview(
    "challenges/email/notice",
    subject=_l("Cierra pronto: «%(title)s»", title="Reto de movilidad segura"),
    sample=_preview_sample,
    category=Category.challenges,
)
