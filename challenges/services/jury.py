"""The jury: jurors per challenge, conflicts of interest (automatic and declared), a seeded
reproducible assignment, the eligibility gate, scores on the published rubric (editable
until the panel is locked), the ranking and the audit export."""

from __future__ import annotations

import csv
import io
import math
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from challenges.models import (
    Assignment,
    Challenge,
    ChallengeStatus,
    Conflict,
    ConflictKind,
    EligibilityCheck,
    Juror,
    Score,
    ScoreChange,
    Submission,
    Team,
    TeamMember,
)
from challenges.services import notices
from challenges.services.common import clean_int, clean_text, lock_challenge
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Membership, User
from core.timeutil import utcnow
from core.urls import external_url

SCORE_MIN, SCORE_MAX = 0.0, 10.0
# Shared by millions: the same mailbox provider says nothing about a conflict of interest.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.es",
        "outlook.com",
        "outlook.es",
        "live.com",
        "live.com.mx",
        "msn.com",
        "yahoo.com",
        "yahoo.com.mx",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "prodigy.net.mx",
        "aol.com",
        "example.org",
        "example.com",
    }
)
JURY_STATES = (ChallengeStatus.closed, ChallengeStatus.judging)


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


# --- jurors ---------------------------------------------------------------------------------


def jurors_of(challenge_id: int) -> list[Juror]:
    from sqlalchemy.orm import joinedload

    return list(
        db.session.execute(
            select(Juror)
            .where(Juror.challenge_id == challenge_id)
            .options(joinedload(Juror.user))
            .order_by(Juror.id)
        ).scalars()
    )


def claim_jury_seats(user: User) -> int:
    """Link invitations sent to this person's (verified) address to their account."""
    if user is None or not user.is_verified:
        return 0
    seats = (
        db.session.execute(
            select(Juror).where(func.lower(Juror.email) == user.email.lower(), Juror.user_id.is_(None))
        )
        .scalars()
        .all()
    )
    now = utcnow()
    for juror in seats:
        juror.user_id = user.id
        juror.joined_at = now
    if seats:
        db.session.commit()
    return len(seats)


def juror_for(user: Any, challenge_id: int) -> Juror | None:
    """The person's juror seat in a challenge, if any."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(
        select(Juror).where(Juror.challenge_id == challenge_id, Juror.user_id == user.id)
    ).scalar_one_or_none()


def add_juror(actor: User | None, challenge: Challenge, email: Any) -> Juror:
    """Invite a juror: an existing account joins at once and is told; an unknown address
    is invited to sign up (the seat is theirs when they confirm that address)."""
    if challenge.status in (
        ChallengeStatus.results_published,
        ChallengeStatus.awarded,
        ChallengeStatus.cancelled,
    ):
        raise DomainError(_l("El jurado ya no cambia en este reto."), code="illegal_transition")
    raw = clean_text(email, "email", 254, required=True)
    try:
        address = validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(_l("Escribe un correo electrónico válido."), field="email", status=422) from None
    existing = db.session.execute(
        select(Juror).where(Juror.challenge_id == challenge.id, func.lower(Juror.email) == address.lower())
    ).scalar_one_or_none()
    if existing is not None:
        raise DomainError(_l("Esa persona ya es jurado de este reto."), field="email", code="already_juror")
    user = db.session.execute(
        select(User).where(func.lower(User.email) == address.lower(), User.deleted_at.is_(None))
    ).scalar_one_or_none()
    now = utcnow()
    juror = Juror(
        challenge_id=challenge.id,
        email=user.email if user is not None else address,
        user_id=user.id if user is not None else None,
        invited_by_id=actor.id if actor else None,
        joined_at=now if user is not None else None,
    )
    db.session.add(juror)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise DomainError(
            _l("Esa persona ya es jurado de este reto."), field="email", code="already_juror"
        ) from None
    if user is not None:
        notices.tell(
            user,
            challenge,
            kind="challenges.juror_added",
            subject=_l("Eres jurado de «%(title)s»", title=challenge.title),
            lines=[
                _l(
                    "%(institution)s te invitó al jurado del reto «%(title)s».",
                    institution=challenge.institution.name,
                    title=challenge.title,
                ),
                _l("Declara tus conflictos de interés antes de evaluar."),
            ],
            dedupe_key=f"challenge-juror:{juror.id}",
            link=external_url("challenges.jury", challenge_id=challenge.id),
        )
    else:
        notices.tell(
            address,
            challenge,
            kind="challenges.juror_invited",
            subject=_l("Invitación al jurado de «%(title)s»", title=challenge.title),
            lines=[
                _l(
                    "%(institution)s te invita al jurado del reto «%(title)s».",
                    institution=challenge.institution.name,
                    title=challenge.title,
                ),
                _l(
                    "Crea tu cuenta en Promueve con esta dirección de correo y confírmala "
                    "para ver tus asignaciones."
                ),
            ],
            dedupe_key=f"challenge-juror:{juror.id}",
            link=external_url("accounts.signup"),
            transactional=True,
        )
    audit.record("challenge.juror.add", challenge, actor=actor, details={"email": juror.email})
    db.session.commit()
    return juror


# --- conflicts -------------------------------------------------------------------------------


@dataclass
class ConflictMap:
    """Why each (juror, team) pair may not be scored: automatic and declared reasons."""

    reasons: dict[tuple[int, int], list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def conflicted(self, juror_id: int, team_id: int) -> bool:
        return bool(self.reasons.get((juror_id, team_id)))


def conflicts(challenge_id: int) -> ConflictMap:
    """Conflicts of every juror with every team of a challenge."""
    result = ConflictMap()
    jurors = jurors_of(challenge_id)
    members = db.session.execute(
        select(TeamMember.team_id, User.id, User.email)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.challenge_id == challenge_id)
    ).all()
    user_ids = {user_id for _, user_id, _ in members} | {j.user_id for j in jurors if j.user_id}
    institutions: dict[int, set[int]] = defaultdict(set)
    if user_ids:
        for user_id, institution_id in db.session.execute(
            select(Membership.user_id, Membership.institution_id).where(Membership.user_id.in_(user_ids))
        ):
            institutions[user_id].add(institution_id)
    for juror in jurors:
        juror_domain = _domain(juror.email)
        juror_institutions = institutions.get(juror.user_id, set()) if juror.user_id else set()
        for team_id, user_id, email in members:
            if user_id == juror.user_id:
                result.reasons[(juror.id, team_id)].append((ConflictKind.declared, "member of the team"))
                continue
            shared = juror_institutions & institutions.get(user_id, set())
            if shared:
                result.reasons[(juror.id, team_id)].append((ConflictKind.institution, "shared institution"))
            if juror_domain not in PUBLIC_MAIL_DOMAINS and _domain(email) == juror_domain:
                result.reasons[(juror.id, team_id)].append((ConflictKind.email_domain, juror_domain))
    for conflict in db.session.execute(
        select(Conflict).join(Juror, Juror.id == Conflict.juror_id).where(Juror.challenge_id == challenge_id)
    ).scalars():
        result.reasons[(conflict.juror_id, conflict.team_id)].append((ConflictKind.declared, conflict.reason))
    return result


def declare_conflict(user: User, challenge: Challenge, team_id: Any, reason: Any) -> Conflict:
    """A juror declares a conflict with a team (reason kept); their assignments to it go."""
    juror = juror_for(user, challenge.id)
    if juror is None:
        raise DomainError(_l("Solo el jurado de este reto declara conflictos."), status=403)
    team_id = clean_int(team_id, "team", 1, 2**31 - 1)
    team = db.session.get(Team, team_id)
    if team is None or team.challenge_id != challenge.id:
        raise DomainError(_l("Ese equipo no participa en este reto."), field="team", status=422)
    reason_text = clean_text(reason, "reason", 2000, required=True)
    conflict = db.session.execute(
        select(Conflict).where(Conflict.juror_id == juror.id, Conflict.team_id == team.id)
    ).scalar_one_or_none()
    if conflict is None:
        conflict = Conflict(juror_id=juror.id, team_id=team.id, reason=reason_text)
        db.session.add(conflict)
    else:
        conflict.reason = reason_text
    submission_ids = select(Submission.id).where(Submission.team_id == team.id)
    db.session.execute(
        delete(Assignment).where(
            Assignment.juror_id == juror.id, Assignment.submission_id.in_(submission_ids)
        )
    )
    db.session.execute(
        delete(Score).where(Score.juror_id == juror.id, Score.submission_id.in_(submission_ids))
    )
    audit.record(
        "challenge.conflict.declare",
        challenge,
        actor=user,
        details={"juror_id": juror.id, "team_id": team.id, "reason": reason_text},
    )
    db.session.commit()
    return conflict


# --- assignment --------------------------------------------------------------------------------


@dataclass
class AssignmentPlan:
    seed: int
    per_submission: int
    by_submission: dict[int, list[int]]
    short: list[int]


def plan_assignment(challenge_id: int, per_submission: int, seed: int) -> AssignmentPlan:
    """The same inputs and seed give the same plan: each submission gets up to N jurors
    without a conflict, the least loaded first (ties broken by the seeded draw)."""
    rng = random.Random(seed)
    jurors = [j for j in jurors_of(challenge_id) if j.user_id is not None]
    order = {j.id: rng.random() for j in jurors}
    conflict_map = conflicts(challenge_id)
    ineligible = set(
        db.session.execute(
            select(EligibilityCheck.submission_id)
            .join(Submission, Submission.id == EligibilityCheck.submission_id)
            .where(Submission.challenge_id == challenge_id, EligibilityCheck.eligible.is_(False))
        ).scalars()
    )
    submissions = [
        (s_id, team_id)
        for s_id, team_id in db.session.execute(
            select(Submission.id, Submission.team_id)
            .where(Submission.challenge_id == challenge_id)
            .order_by(Submission.id)
        )
        if s_id not in ineligible
    ]
    rng.shuffle(submissions)
    load = dict.fromkeys(order, 0)
    by_submission: dict[int, list[int]] = {}
    short: list[int] = []
    for submission_id, team_id in submissions:
        candidates = [j.id for j in jurors if not conflict_map.conflicted(j.id, team_id)]
        candidates.sort(key=lambda j: (load[j], order[j]))
        chosen = sorted(candidates[:per_submission])
        for juror_id in chosen:
            load[juror_id] += 1
        by_submission[submission_id] = chosen
        if len(chosen) < per_submission:
            short.append(submission_id)
    return AssignmentPlan(seed, per_submission, dict(sorted(by_submission.items())), sorted(short))


def assign(actor: User | None, challenge: Challenge, per_submission: Any, seed: Any) -> AssignmentPlan:
    """Replace the assignment with the seeded plan (scored pairs are kept); jurors are told."""
    per_submission = clean_int(per_submission, "per_submission", 1, 20)
    seed = clean_int(seed, "seed", 0, 2**31 - 1)
    challenge = lock_challenge(challenge.id)
    if challenge.status not in JURY_STATES:
        raise DomainError(
            _l("Las asignaciones se hacen después del cierre, antes de publicar resultados."),
            code="illegal_transition",
        )
    if challenge.panel_locked_at is not None:
        raise DomainError(_l("El panel ya está cerrado."), code="panel_locked")
    plan = plan_assignment(challenge.id, per_submission, seed)
    scored = {
        (juror_id, submission_id)
        for juror_id, submission_id in db.session.execute(
            select(Score.juror_id, Score.submission_id).where(Score.challenge_id == challenge.id)
        )
    }
    existing = {
        (a.juror_id, a.submission_id): a
        for a in db.session.execute(
            select(Assignment).where(Assignment.challenge_id == challenge.id)
        ).scalars()
    }
    wanted = {(j, s) for s, jurors in plan.by_submission.items() for j in jurors}
    for pair, row in existing.items():
        if pair not in wanted and pair not in scored:
            db.session.delete(row)
    added: dict[int, int] = defaultdict(int)
    for juror_id, submission_id in sorted(wanted - set(existing)):
        db.session.add(Assignment(challenge_id=challenge.id, juror_id=juror_id, submission_id=submission_id))
        added[juror_id] += 1
    challenge.jurors_per_submission = per_submission
    challenge.assignment_seed = seed
    db.session.flush()
    for juror in jurors_of(challenge.id):
        if juror.user is None or not added.get(juror.id):
            continue
        notices.tell(
            juror.user,
            challenge,
            kind="challenges.assignment",
            subject=_l("Tienes soluciones por evaluar en «%(title)s»", title=challenge.title),
            lines=[_l("Se te asignaron %(n)s soluciones para evaluar.", n=added[juror.id])],
            dedupe_key=f"challenge-assignment:{challenge.id}:{juror.id}:{seed}:{per_submission}:{utcnow().isoformat()}",
            link=external_url("challenges.jury", challenge_id=challenge.id),
        )
    notices.schedule_jury_reminders(challenge)
    audit.record(
        "challenge.assign",
        challenge,
        actor=actor,
        details={"seed": seed, "per_submission": per_submission, "short": plan.short},
    )
    db.session.commit()
    return plan


def assignments_of(user: User) -> list[Assignment]:
    """The person's assignments in every challenge, with what the list shows."""
    from sqlalchemy.orm import joinedload

    claim_jury_seats(user)
    return list(
        db.session.execute(
            select(Assignment)
            .join(Juror, Juror.id == Assignment.juror_id)
            .where(Juror.user_id == user.id)
            .options(
                joinedload(Assignment.submission).joinedload(Submission.team), joinedload(Assignment.juror)
            )
            .order_by(Assignment.challenge_id, Assignment.submission_id)
        ).scalars()
    )


# --- eligibility and scores ----------------------------------------------------------------------


def set_eligibility(
    actor: User | None, submission: Submission, eligible: Any, reason: Any
) -> EligibilityCheck:
    """Pass or fail a submission at the gate, with the reason (required on a fail)."""
    challenge = submission.challenge
    if challenge.status not in JURY_STATES or challenge.panel_locked_at is not None:
        raise DomainError(
            _l("La revisión de elegibilidad es entre el cierre y el cierre del panel."),
            code="illegal_transition",
        )
    eligible = bool(eligible)
    reason_text = clean_text(reason, "reason", 2000, required=not eligible) or ""
    check = db.session.execute(
        select(EligibilityCheck).where(EligibilityCheck.submission_id == submission.id)
    ).scalar_one_or_none()
    if check is None:
        check = EligibilityCheck(submission_id=submission.id, eligible=eligible)
        db.session.add(check)
    check.eligible, check.reason = eligible, reason_text
    check.checked_by_id = actor.id if actor else None
    check.checked_at = utcnow()
    audit.record(
        "challenge.eligibility",
        submission,
        actor=actor,
        institution_id=challenge.institution_id,
        details={"eligible": eligible, "reason": reason_text},
    )
    db.session.commit()
    return check


def eligibility_of(submission_ids: list[int]) -> dict[int, EligibilityCheck]:
    if not submission_ids:
        return {}
    return {
        c.submission_id: c
        for c in db.session.execute(
            select(EligibilityCheck).where(EligibilityCheck.submission_id.in_(submission_ids))
        ).scalars()
    }


def _clean_scores(challenge: Challenge, values: Any) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise DomainError(_l("Califica cada criterio de la rúbrica."), field="scores", status=422)
    names = [c.name for c in challenge.rubric]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise DomainError(
            _l("«%(name)s» no es un criterio de la rúbrica.", name=unknown[0]), field="scores", status=422
        )
    cleaned: dict[str, float] = {}
    for name in names:
        raw = values.get(name)
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise DomainError(
                _l("Califica «%(name)s» con un número de 0 a 10.", name=name), field="scores", status=422
            ) from None
        if isinstance(raw, bool) or math.isnan(number) or not SCORE_MIN <= number <= SCORE_MAX:
            raise DomainError(
                _l("Califica «%(name)s» con un número de 0 a 10.", name=name), field="scores", status=422
            )
        cleaned[name] = number
    return cleaned


def weighted_total(challenge: Challenge, values: Mapping[str, float]) -> float:
    """The rubric's weighted mean of one juror's scores."""
    total_weight = sum(c.weight for c in challenge.rubric)
    return sum(c.weight * float(values.get(c.name, 0)) for c in challenge.rubric) / total_weight


def score(user: User, submission: Submission, values: Any, comment: Any) -> Score:
    """A juror scores an assigned, eligible, non-conflicted submission (editable until the lock)."""
    challenge = submission.challenge
    juror = juror_for(user, challenge.id)
    if juror is None:
        raise DomainError(_l("No eres jurado de este reto."), status=403, code="not_assigned")
    if conflicts(challenge.id).conflicted(juror.id, submission.team_id):
        raise DomainError(
            _l("Tienes un conflicto de interés con este equipo: no puedes calificarlo."),
            status=403,
            code="conflict_of_interest",
        )
    assigned = db.session.execute(
        select(Assignment.id).where(
            Assignment.juror_id == juror.id, Assignment.submission_id == submission.id
        )
    ).first()
    if assigned is None:
        raise DomainError(_l("Esta solución no te fue asignada."), status=403, code="not_assigned")
    if challenge.status != ChallengeStatus.judging:
        raise DomainError(
            _l("Solo se califica mientras el reto está en evaluación."), code="illegal_transition"
        )
    if challenge.panel_locked_at is not None:
        raise DomainError(_l("El panel ya está cerrado: las calificaciones no cambian."), code="panel_locked")
    check = eligibility_of([submission.id]).get(submission.id)
    if check is None or not check.eligible:
        raise DomainError(_l("Esta solución aún no pasa la revisión de elegibilidad."), code="not_eligible")
    cleaned = _clean_scores(challenge, values)
    comment_text = clean_text(comment, "comment", 5000) or ""
    row = db.session.execute(
        select(Score).where(Score.juror_id == juror.id, Score.submission_id == submission.id)
    ).scalar_one_or_none()
    now = utcnow()
    if row is None:
        row = Score(challenge_id=challenge.id, juror_id=juror.id, submission_id=submission.id, created_at=now)
        db.session.add(row)
    row.values, row.comment, row.updated_at = cleaned, comment_text, now
    db.session.add(
        ScoreChange(
            challenge_id=challenge.id,
            juror_id=juror.id,
            submission_id=submission.id,
            values=cleaned,
            comment=comment_text,
            changed_at=now,
        )
    )
    audit.record(
        "challenge.score",
        submission,
        actor=user,
        institution_id=challenge.institution_id,
        details={"juror_id": juror.id, "values": cleaned},
    )
    db.session.commit()
    return row


def scores_of(user: User, challenge_id: int) -> dict[int, Score]:
    juror = juror_for(user, challenge_id)
    if juror is None:
        return {}
    return {
        s.submission_id: s
        for s in db.session.execute(select(Score).where(Score.juror_id == juror.id)).scalars()
    }


def lock_panel(actor: User | None, challenge: Challenge) -> Challenge:
    """Lock the panel: scores no longer change."""
    challenge = lock_challenge(challenge.id)
    if challenge.status != ChallengeStatus.judging:
        raise DomainError(_l("El panel se cierra durante la evaluación."), code="illegal_transition")
    if challenge.panel_locked_at is None:
        challenge.panel_locked_at = utcnow()
        audit.record("challenge.panel.lock", challenge, actor=actor)
        notices.cancel_scheduled(subject=notices.subject_of(challenge), kind=notices.JURY_KIND)
    db.session.commit()
    return challenge


# --- ranking ---------------------------------------------------------------------------------


@dataclass
class RankingRow:
    submission_id: int
    team_id: int
    team: str
    title: str
    award: str | None
    weighted_mean: float | None
    z_score: float | None
    jurors: int
    rank: int | None = None
    z_rank: int | None = None
    tied: bool = False
    under_minimum: bool = False
    community_votes: int = 0


def ranking(challenge: Challenge) -> list[RankingRow]:
    """Eligible submissions by weighted mean and by per-juror z-score, side by side."""
    from challenges.models import CommunityVote

    submissions = list(
        db.session.execute(
            select(Submission).where(Submission.challenge_id == challenge.id).order_by(Submission.id)
        ).scalars()
    )
    checks = eligibility_of([s.id for s in submissions])
    submissions = [s for s in submissions if not (s.id in checks and not checks[s.id].eligible)]
    scores = list(db.session.execute(select(Score).where(Score.challenge_id == challenge.id)).scalars())
    totals: dict[int, dict[int, float]] = defaultdict(dict)  # juror -> submission -> total
    for row in scores:
        totals[row.juror_id][row.submission_id] = weighted_total(challenge, row.values)
    z_by_submission: dict[int, list[float]] = defaultdict(list)
    for by_submission in totals.values():
        values = list(by_submission.values())
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        for submission_id, value in by_submission.items():
            z_by_submission[submission_id].append((value - mean) / std if std > 0 else 0.0)
    votes = dict(
        db.session.execute(
            select(CommunityVote.submission_id, func.count())
            .where(CommunityVote.challenge_id == challenge.id)
            .group_by(CommunityVote.submission_id)
        ).all()
    )
    rows: list[RankingRow] = []
    for submission in submissions:
        juror_totals = [by[submission.id] for by in totals.values() if submission.id in by]
        zs = z_by_submission.get(submission.id, [])
        latest = submission.latest
        rows.append(
            RankingRow(
                submission_id=submission.id,
                team_id=submission.team_id,
                team=submission.team.name,
                title=latest.title,
                award=submission.team.award,
                weighted_mean=round(sum(juror_totals) / len(juror_totals), 4) if juror_totals else None,
                z_score=round(sum(zs) / len(zs), 4) if zs else None,
                jurors=len(juror_totals),
                under_minimum=len(juror_totals) < challenge.jurors_per_submission,
                community_votes=votes.get(submission.id, 0),
            )
        )
    rows.sort(key=lambda r: (r.weighted_mean is None, -(r.weighted_mean or 0), r.submission_id))
    _rank(rows, "weighted_mean", "rank", mark_ties=True)
    by_z = sorted(rows, key=lambda r: (r.z_score is None, -(r.z_score or 0), r.submission_id))
    _rank(by_z, "z_score", "z_rank", mark_ties=False)
    return rows


def _rank(rows: list[RankingRow], value_name: str, rank_name: str, *, mark_ties: bool) -> None:
    previous = None
    position = 0
    for index, row in enumerate(rows, start=1):
        value = getattr(row, value_name)
        if value is None:
            continue
        if value != previous:
            position = index
        elif mark_ties:
            row.tied = True
            for other in rows:
                if getattr(other, value_name) == value:
                    other.tied = True
        setattr(row, rank_name, position)
        previous = value


def _cell(value: Any) -> Any:
    """Spreadsheet-safe: text starting with = + - @ is not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def audit_csv(challenge: Challenge) -> str:
    """Every score as given and every change, in order (CSV)."""
    names = [c.name for c in challenge.rubric]
    jurors = {j.id: j for j in jurors_of(challenge.id)}
    submissions = {
        s.id: s
        for s in db.session.execute(
            select(Submission).where(Submission.challenge_id == challenge.id)
        ).scalars()
    }
    changes = db.session.execute(
        select(ScoreChange).where(ScoreChange.challenge_id == challenge.id).order_by(ScoreChange.id)
    ).scalars()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["changed_at", "change", "submission", "team", "juror", *names, "weighted", "comment"])
    seen: set[tuple[int, int]] = set()
    for change in changes:
        pair = (change.juror_id, change.submission_id)
        submission = submissions.get(change.submission_id)
        juror = jurors.get(change.juror_id)
        writer.writerow(
            [
                change.changed_at.isoformat(),
                "changed" if pair in seen else "given",
                change.submission_id,
                _cell(submission.team.name if submission else ""),
                _cell(juror.email if juror else ""),
                *[change.values.get(name, "") for name in names],
                round(weighted_total(challenge, change.values), 4),
                _cell(change.comment),
            ]
        )
        seen.add(pair)
    return out.getvalue()
