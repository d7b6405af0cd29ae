"""HTML pages of challenges, teams, submissions, the jury, results and the showcase (/apps).
Thin: services do the work. Lists in forms are typed one item per line."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from challenges import forms, services
from challenges.limits import limit_messages
from challenges.models import (
    Challenge,
    ChallengeStatus,
    Clarification,
    ShowcaseKind,
    ShowcaseStatus,
    Team,
)
from challenges.permissions import may_view
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.permissions import can, require
from core.timeutil import mexican_timezones, to_zone

bp = Blueprint("challenges", __name__, template_folder="templates")


@bp.app_template_global("hosted_challenges")
def hosted_challenges(event_id: int) -> list[Challenge]:
    """The public challenges a datathon hosts (for the event page)."""
    return list(
        db.session.execute(
            select(Challenge)
            .where(Challenge.event_id == event_id, Challenge.status != ChallengeStatus.draft)
            .order_by(Challenge.id)
        ).scalars()
    )


def _labels() -> dict[str, Any]:
    return {
        "status_labels": services.STATUS_LABELS,
        "kind_labels": services.SHOWCASE_KIND_LABELS,
        "showcase_status_labels": services.SHOWCASE_STATUS_LABELS,
    }


def _challenge_or_404(challenge_id: int) -> Challenge:
    challenge = services.get_challenge(challenge_id)
    if challenge is None or not may_view(current_user, challenge):
        abort(404)
    return challenge


def _managed(challenge_id: int) -> Challenge:
    challenge = services.get_challenge(challenge_id)
    if challenge is None:
        abort(404)
    require(current_user, "challenges.manage", challenge)
    return challenge


def _team_or_404(team_id: int) -> Team:
    team = services.get_team(team_id)
    if team is None or not may_view(current_user, team.challenge):
        abort(404)
    return team


def _attempt(func, *args, success: str | None = None, **kwargs):
    """Run a service; flash its refusal (returns None) or the success message."""
    try:
        result = func(*args, **kwargs)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return None
    if success:
        flash(success, "success")
    return result


def _local(value, zone: str) -> str:
    return to_zone(value, zone).strftime("%Y-%m-%dT%H:%M") if value else ""


# --- challenges -----------------------------------------------------------------------------------


@bp.get("/challenges")
def list_challenges():
    """Public challenges: open first, then the rest by close."""
    status = request.args.get("status") or None
    query = select(Challenge).where(Challenge.status != ChallengeStatus.draft)
    if status in ChallengeStatus.__members__:
        query = query.where(Challenge.status == status)
    from sqlalchemy.orm import joinedload

    challenges = list(
        db.session.execute(
            query.options(joinedload(Challenge.institution)).order_by(Challenge.closes_at.desc()).limit(100)
        ).scalars()
    )
    manageable = []
    if current_user.is_authenticated:
        manageable = [m.institution for m in current_user.memberships]
        if current_user.is_admin:
            manageable = list(db.session.execute(select(Institution).order_by(Institution.name)).scalars())
    return render_template(
        "challenges/list.html", challenges=challenges, status=status, manageable=manageable, **_labels()
    )


@bp.get("/challenges/<id:challenge_id>")
def detail(challenge_id: int):
    """A challenge's public page: the problem, rules, rubric, datasets, Q&A and your team."""
    challenge = _challenge_or_404(challenge_id)
    team = services.team_of(current_user, challenge.id)
    host = None
    if challenge.event_id:
        from events import services as event_services

        host = event_services.get_event(challenge.event_id)
    team_count = db.session.execute(
        select(func.count()).select_from(Team).where(Team.challenge_id == challenge.id)
    ).scalar_one()
    return render_template(
        "challenges/detail.html",
        challenge=challenge,
        team=team,
        host=host,
        team_count=team_count,
        clarifications=services.clarifications_of(challenge.id),
        manager=can(current_user, "challenges.manage", challenge),
        juror=services.juror_for(current_user, challenge.id),
        window_open=services.window_open(challenge),
        before_close=services.before_close(challenge),
        **_labels(),
    )


def _render_form(challenge: Challenge | None, values: dict[str, Any], errors: dict[str, str], institution):
    return render_template(
        "challenges/form.html",
        challenge=challenge,
        values=values,
        errors=errors,
        institution=institution,
        timezones=[*mexican_timezones(), "UTC"],
        **_labels(),
    )


@bp.route("/challenges/new", methods=["GET", "POST"])
@login_required
def create():
    """Create a draft challenge for an institution you manage."""
    slug = request.values.get("institution", "")
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        abort(404)
    require(current_user, "challenges.manage", institution)
    values = dict(request.form) if request.method == "POST" else {"timezone": institution.timezone}
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            challenge = services.create_challenge(
                current_user, institution, forms.challenge_data(request.form)
            )
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "form"] = str(exc.message)
        else:
            flash(_("Reto creado como borrador."), "success")
            return redirect(url_for("challenges.manage", challenge_id=challenge.id))
    return _render_form(None, values, errors, institution)


@bp.route("/challenges/<id:challenge_id>/edit", methods=["GET", "POST"])
@login_required
def edit(challenge_id: int):
    """Edit a challenge (new terms text makes a new terms version)."""
    challenge = _managed(challenge_id)
    zone = challenge.timezone
    if request.method == "POST":
        values = dict(request.form)
    else:
        values = {
            "title": challenge.title,
            "summary": challenge.summary,
            "problem": challenge.problem,
            "expected_outcomes": challenge.expected_outcomes,
            "eligibility": challenge.eligibility,
            "prizes": challenge.prizes,
            "categories": ", ".join(challenge.categories or []),
            "terms": challenge.current_terms.text if challenge.current_terms else "",
            "timezone": zone,
            "opens_at": _local(challenge.opens_at, zone),
            "closes_at": _local(challenge.closes_at, zone),
            "scores_due_at": _local(challenge.scores_due_at, zone),
            "team_min": challenge.team_min,
            "team_max": challenge.team_max,
            "submission_limit": challenge.submission_limit,
            "jurors_per_submission": challenge.jurors_per_submission,
            "community_vote": "y" if challenge.community_vote else "",
            "rubric": "\n".join(f"{c.name} | {c.weight:g}" for c in challenge.rubric),
            "datasets": "\n".join(
                str(d.dataset_id) if d.dataset_id else f"{d.title} | {d.url}" for d in challenge.datasets
            ),
            "event": challenge.event_id or "",
        }
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = forms.challenge_data(request.form)
        if challenge.status not in (ChallengeStatus.draft, ChallengeStatus.published):
            for name in ("team_min", "team_max", "submission_limit", "rubric", "opens_at"):
                data.pop(name, None)
            if challenge.status != ChallengeStatus.open:
                for name in ("closes_at", "terms", "datasets", "event"):
                    data.pop(name, None)
        try:
            services.update_challenge(current_user, challenge, data)
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "form"] = str(exc.message)
        else:
            flash(_("Cambios guardados."), "success")
            return redirect(url_for("challenges.manage", challenge_id=challenge.id))
    return _render_form(challenge, values, errors, challenge.institution)


@bp.get("/challenges/<id:challenge_id>/manage")
@login_required
def manage(challenge_id: int):
    """The institution's control room: state, jury, eligibility, ranking, awards, answers."""
    challenge = _managed(challenge_id)
    submissions = services.challenge_submissions(challenge.id)
    return render_template(
        "challenges/manage.html",
        challenge=challenge,
        submissions=submissions,
        eligibility=services.eligibility_of([s.id for s in submissions]),
        jurors=services.jurors_of(challenge.id),
        ranking=services.ranking(challenge)
        if challenge.status not in (ChallengeStatus.draft, ChallengeStatus.published, ChallengeStatus.open)
        else [],
        clarifications=services.clarifications_of(challenge.id),
        teams=list(
            db.session.execute(
                select(Team).where(Team.challenge_id == challenge.id).order_by(Team.id)
            ).scalars()
        ),
        **_labels(),
    )


_TRANSITIONS = {
    "publish": ("publish_challenge", None),
    "judging": ("start_judging", None),
    "lock": ("lock_panel", None),
    "results": ("publish_results", None),
}


@bp.post("/challenges/<id:challenge_id>/state/<action>")
@login_required
def change_state(challenge_id: int, action: str):
    """Publish, start judging, lock the panel, publish results or cancel."""
    challenge = _managed(challenge_id)
    if action == "cancel":
        _attempt(
            services.cancel_challenge,
            current_user,
            challenge,
            request.form.get("reason", ""),
            success=_("Reto cancelado; avisamos a equipos y jurado."),
        )
    elif action in _TRANSITIONS:
        _attempt(getattr(services, _TRANSITIONS[action][0]), current_user, challenge, success=_("Listo."))
    else:
        abort(404)
    return redirect(url_for("challenges.manage", challenge_id=challenge_id))


@bp.post("/challenges/<id:challenge_id>/jurors")
@login_required
def add_juror(challenge_id: int):
    challenge = _managed(challenge_id)
    _attempt(
        services.add_juror,
        current_user,
        challenge,
        request.form.get("email", ""),
        success=_("Jurado invitado."),
    )
    return redirect(url_for("challenges.manage", challenge_id=challenge_id) + "#jury")


@bp.post("/challenges/<id:challenge_id>/assignments")
@login_required
def assign(challenge_id: int):
    challenge = _managed(challenge_id)
    _attempt(
        services.assign,
        current_user,
        challenge,
        request.form.get("per_submission", ""),
        request.form.get("seed", ""),
        success=_("Asignación hecha."),
    )
    return redirect(url_for("challenges.manage", challenge_id=challenge_id) + "#jury")


@bp.post("/challenges/submissions/<id:submission_id>/eligibility")
@login_required
def eligibility(submission_id: int):
    submission = services.get_submission(submission_id) or abort(404)
    require(current_user, "challenges.manage", submission.challenge)
    _attempt(
        services.set_eligibility,
        current_user,
        submission,
        request.form.get("eligible") == "y",
        request.form.get("reason", ""),
        success=_("Elegibilidad registrada."),
    )
    return redirect(url_for("challenges.manage", challenge_id=submission.challenge_id) + "#submissions")


@bp.post("/challenges/<id:challenge_id>/awards")
@login_required
def award(challenge_id: int):
    challenge = _managed(challenge_id)
    awards = [
        {"team": int(key.removeprefix("award-")), "award": value}
        for key, value in request.form.items()
        if key.startswith("award-") and key.removeprefix("award-").isdigit() and value.strip()
    ]
    _attempt(services.award, current_user, challenge, awards, success=_("Premios registrados."))
    return redirect(url_for("challenges.manage", challenge_id=challenge_id))


@bp.get("/challenges/<id:challenge_id>/scores.csv")
@login_required
def scores_csv(challenge_id: int):
    """Every score and every change (audit export)."""
    challenge = _managed(challenge_id)
    return Response(
        services.audit_csv(challenge),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="reto-{challenge.id}-calificaciones.csv"'},
    )


# --- clarifications --------------------------------------------------------------------------------


@bp.post("/challenges/<id:challenge_id>/clarifications")
@login_required
@limit_messages
def ask(challenge_id: int):
    challenge = _challenge_or_404(challenge_id)
    _attempt(
        services.ask,
        current_user,
        challenge,
        request.form.get("question", ""),
        success=_("Pregunta enviada."),
    )
    return redirect(url_for("challenges.detail", challenge_id=challenge_id) + "#clarifications")


@bp.post("/challenges/clarifications/<id:clarification_id>/answer")
@login_required
def answer(clarification_id: int):
    clarification = db.session.get(Clarification, clarification_id) or abort(404)
    challenge = _managed(clarification.challenge_id)
    _attempt(
        services.answer,
        current_user,
        clarification,
        request.form.get("answer", ""),
        success=_("Respuesta publicada; avisamos a los equipos."),
    )
    return redirect(url_for("challenges.manage", challenge_id=challenge.id) + "#clarifications")


# --- teams ---------------------------------------------------------------------------------------------


@bp.post("/challenges/<id:challenge_id>/teams")
@login_required
def create_team(challenge_id: int):
    challenge = _challenge_or_404(challenge_id)
    team = _attempt(services.create_team, current_user, challenge, request.form.get("name", ""))
    if team is None:
        return redirect(url_for("challenges.detail", challenge_id=challenge_id))
    flash(_("Equipo creado. Comparte el enlace de invitación."), "success")
    return redirect(url_for("challenges.team", team_id=team.id))


@bp.get("/challenges/teams/<id:team_id>")
def team(team_id: int):
    """A team's page: members, invitation, legal entity and its solutions (for members)."""
    team = _team_or_404(team_id)
    member = services.is_member(current_user, team)
    challenge = services.get_challenge(team.challenge_id)
    return render_template(
        "challenges/team.html",
        team=team,
        challenge=challenge,
        member=member,
        captain=current_user.is_authenticated and team.captain_id == current_user.id,
        invite_url=services.invite_url(team) if member else None,
        submissions=services.team_submissions(team.id)
        if member or can(current_user, "challenges.manage", challenge)
        else [],
        before_close=services.before_close(challenge) and team.frozen_at is None,
        window_open=services.window_open(challenge),
        **_labels(),
    )


@bp.route("/challenges/teams/<id:team_id>/join", methods=["GET", "POST"])
@login_required
def join_team(team_id: int):
    """Join a team with its signed invitation link."""
    team = _team_or_404(team_id)
    token = request.values.get("token", "")
    if request.method == "POST" and _attempt(
        services.join_team, current_user, team, token, success=_("Te uniste al equipo.")
    ):
        return redirect(url_for("challenges.team", team_id=team.id))
    return render_template("challenges/join.html", team=team, token=token, challenge=team.challenge)


@bp.post("/challenges/teams/<id:team_id>/invitations")
@login_required
@limit_messages
def invite(team_id: int):
    team = _team_or_404(team_id)
    if not services.is_member(current_user, team):
        abort(403)
    _attempt(
        services.invite_by_email,
        current_user,
        team,
        request.form.get("email", ""),
        success=_("Invitación enviada."),
    )
    return redirect(url_for("challenges.team", team_id=team_id))


@bp.post("/challenges/teams/<id:team_id>/legal")
@login_required
def legal_entity(team_id: int):
    team = _team_or_404(team_id)
    _attempt(
        services.set_legal_entity,
        current_user,
        team,
        request.form.get("legal_name", ""),
        request.form.get("rfc", ""),
        success=_("Datos fiscales guardados."),
    )
    return redirect(url_for("challenges.team", team_id=team_id))


@bp.post("/challenges/teams/<id:team_id>/leave")
@login_required
def leave(team_id: int):
    team = _team_or_404(team_id)
    if _attempt(services.leave_team, current_user, team, success=_("Saliste del equipo.")) is None:
        pass
    return redirect(url_for("challenges.detail", challenge_id=team.challenge_id))


@bp.post("/challenges/teams/<id:team_id>/renew-invite")
@login_required
def renew_invite(team_id: int):
    team = _team_or_404(team_id)
    _attempt(
        services.renew_invite, current_user, team, success=_("Nuevo enlace creado; el anterior ya no sirve.")
    )
    return redirect(url_for("challenges.team", team_id=team_id))


# --- submissions ---------------------------------------------------------------------------------------


def _uploads() -> list:
    return [
        services.Upload(file.filename or "", file.read())
        for file in request.files.getlist("attachments")
        if file and file.filename
    ]


@bp.route("/challenges/teams/<id:team_id>/submit", methods=["GET", "POST"])
@bp.route("/challenges/teams/<id:team_id>/submissions/<id:submission_id>/version", methods=["GET", "POST"])
@login_required
def submit(team_id: int, submission_id: int | None = None):
    """Send a solution or a new version of one (with the terms to accept)."""
    team = _team_or_404(team_id)
    if not services.is_member(current_user, team):
        abort(403)
    challenge = services.get_challenge(team.challenge_id)
    submission = None
    if submission_id is not None:
        submission = services.get_submission(submission_id)
        if submission is None or submission.team_id != team.id:
            abort(404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = dict(request.form)
        data = forms.submission_data(request.form)
        try:
            version = services.submit(current_user, team, data, _uploads(), submission=submission)
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "form"] = str(exc.message)
        else:
            flash(_("Solución enviada (versión %(n)s).", n=version.version), "success")
            return redirect(url_for("challenges.submission", submission_id=version.submission_id))
    elif submission is not None:
        latest = submission.latest
        values = {
            "title": latest.title,
            "summary": latest.summary,
            "repository_url": latest.repository_url,
            "demo_url": latest.demo_url or "",
            "licence": latest.licence,
            "datasets": "\n".join(
                str(d["dataset_id"]) if d.get("dataset_id") else f"{d['title']} | {d['url']}"
                for d in latest.datasets_used
            ),
        }
    else:
        values = {"licence": "MIT"}
    return render_template(
        "challenges/submit.html",
        team=team,
        challenge=challenge,
        submission=submission,
        values=values,
        errors=errors,
        licences=services.spdx_licences(),
        window_open=services.window_open(challenge),
        **_labels(),
    )


def _may_see_submission(submission) -> bool:
    if not current_user.is_authenticated:
        return False
    team = services.get_team(submission.team_id)
    return (
        services.is_member(current_user, team)
        or can(current_user, "challenges.manage", submission.challenge)
        or services.juror_for(current_user, submission.challenge_id) is not None
    )


@bp.get("/challenges/submissions/<id:submission_id>")
@login_required
def submission(submission_id: int):
    """A solution with its versions (team, institution and jury)."""
    submission = services.get_submission(submission_id)
    if submission is None:
        abort(404)
    if not _may_see_submission(submission):
        abort(403)
    return render_template(
        "challenges/submission.html",
        submission=submission,
        challenge=services.get_challenge(submission.challenge_id),
        team=services.get_team(submission.team_id),
        member=services.is_member(current_user, services.get_team(submission.team_id)),
        window_open=services.window_open(submission.challenge),
        **_labels(),
    )


@bp.get("/challenges/attachments/<id:attachment_id>")
@login_required
def attachment(attachment_id: int):
    """Download an attachment: generated file name on disk, a safe Content-Disposition."""
    row = services.get_attachment(attachment_id)
    if row is None:
        abort(404)
    submission = services.get_submission(row.version.submission_id)
    if not _may_see_submission(submission):
        abort(403)
    response = send_file(
        services.attachment_path(row),
        mimetype=row.content_type,
        as_attachment=True,
        download_name=row.original_name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- jury ----------------------------------------------------------------------------------------------


@bp.get("/challenges/<id:challenge_id>/jury")
@login_required
def jury(challenge_id: int):
    """A juror's page: the rubric, assigned submissions, scores and conflicts."""
    challenge = _challenge_or_404(challenge_id)
    services.claim_jury_seats(current_user)
    juror = services.juror_for(current_user, challenge.id)
    if juror is None:
        abort(403)
    assignments = [a for a in services.assignments_of(current_user) if a.challenge_id == challenge.id]
    conflict_map = services.conflicts(challenge.id)
    teams = list(
        db.session.execute(select(Team).where(Team.challenge_id == challenge.id).order_by(Team.id)).scalars()
    )
    return render_template(
        "challenges/jury.html",
        challenge=challenge,
        juror=juror,
        assignments=assignments,
        scores=services.scores_of(current_user, challenge.id),
        eligibility=services.eligibility_of([a.submission_id for a in assignments]),
        teams=teams,
        conflicted={t.id for t in teams if conflict_map.conflicted(juror.id, t.id)},
        **_labels(),
    )


@bp.post("/challenges/<id:challenge_id>/jury/conflicts")
@login_required
def declare_conflict(challenge_id: int):
    challenge = _challenge_or_404(challenge_id)
    _attempt(
        services.declare_conflict,
        current_user,
        challenge,
        request.form.get("team", ""),
        request.form.get("reason", ""),
        success=_("Conflicto declarado."),
    )
    return redirect(url_for("challenges.jury", challenge_id=challenge_id))


@bp.post("/challenges/submissions/<id:submission_id>/score")
@login_required
def score(submission_id: int):
    submission = services.get_submission(submission_id) or abort(404)
    challenge = services.get_challenge(submission.challenge_id)
    values = {c.name: request.form.get(f"c{c.id}", "") for c in challenge.rubric}
    _attempt(
        services.score,
        current_user,
        submission,
        values,
        request.form.get("comment", ""),
        success=_("Calificación guardada."),
    )
    return redirect(url_for("challenges.jury", challenge_id=challenge.id) + f"#s{submission.id}")


# --- results ---------------------------------------------------------------------------------------------


@bp.get("/challenges/<id:challenge_id>/results")
def results(challenge_id: int):
    """Public results (once published) and the community vote."""
    challenge = _challenge_or_404(challenge_id)
    published = challenge.status in (ChallengeStatus.results_published, ChallengeStatus.awarded)
    voting = challenge.community_vote and challenge.status in (
        ChallengeStatus.closed,
        ChallengeStatus.judging,
    )
    return render_template(
        "challenges/results.html",
        challenge=challenge,
        published=published,
        ranking=services.ranking(challenge) if published else [],
        voting=voting,
        candidates=services.challenge_submissions(challenge.id) if voting else [],
        my_vote=services.my_vote(current_user, challenge.id),
        **_labels(),
    )


@bp.post("/challenges/<id:challenge_id>/votes")
@login_required
def vote(challenge_id: int):
    challenge = _challenge_or_404(challenge_id)
    _attempt(
        services.vote,
        current_user,
        challenge,
        request.form.get("submission", ""),
        success=_("Voto registrado."),
    )
    return redirect(url_for("challenges.results", challenge_id=challenge_id))


# --- showcase (/apps) -----------------------------------------------------------------------------------


@bp.get("/apps")
def showcase():
    """Apps, visualisations, tools, research and articles built on open data."""
    kind = request.args.get("kind") or None
    institution_slug = request.args.get("institution") or None
    dataset = request.args.get("dataset") or None
    institution_id = None
    if institution_slug:
        institution_id = db.session.execute(
            select(Institution.id).where(Institution.slug == institution_slug)
        ).scalar_one_or_none()
    page_number = request.args.get("page", "1")
    page = services.list_showcase(
        kind=kind,
        institution_id=institution_id or (-1 if institution_slug else None),
        dataset_id=int(dataset) if dataset and dataset.isdigit() and len(dataset) < 10 else None,
        page=int(page_number) if page_number.isdigit() and len(page_number) < 7 else 1,
    )
    return render_template(
        "challenges/showcase.html",
        page=page,
        kind=kind,
        institution=institution_slug,
        dataset=dataset,
        institutions=list(db.session.execute(select(Institution).order_by(Institution.name)).scalars()),
        kinds=list(ShowcaseKind),
        reviewable=current_user.is_authenticated and bool(services.pending_for(current_user)),
        **_labels(),
    )


@bp.route("/apps/new", methods=["GET", "POST"])
@login_required
@limit_messages
def propose():
    """Propose something built on open data (published after review)."""
    errors: dict[str, str] = {}
    values = dict(request.form) if request.method == "POST" else {"kind": "app"}
    if request.method == "POST":
        file = request.files.get("screenshot")
        upload = services.Upload(file.filename or "", file.read()) if file and file.filename else None
        data = forms.showcase_data(request.form)
        try:
            item = services.propose(current_user, data, upload)
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "form"] = str(exc.message)
        else:
            flash(_("Gracias: tu propuesta se publicará cuando la revisen."), "success")
            return redirect(url_for("challenges.showcase_item", item_id=item.id))
    return render_template(
        "challenges/propose.html", values=values, errors=errors, kinds=list(ShowcaseKind), **_labels()
    )


def _item_visible(item) -> bool:
    if item.status == ShowcaseStatus.published:
        return True
    if not current_user.is_authenticated:
        return False
    return item.proposed_by_id == current_user.id or can(current_user, "showcase.review", item)


@bp.get("/apps/<id:item_id>")
def showcase_item(item_id: int):
    item = services.get_item(item_id)
    if item is None or not _item_visible(item):
        abort(404)
    return render_template(
        "challenges/showcase_item.html",
        item=item,
        reviewer=current_user.is_authenticated and can(current_user, "showcase.review", item),
        **_labels(),
    )


@bp.get("/apps/<id:item_id>/screenshot")
def screenshot(item_id: int):
    item = services.get_item(item_id)
    if item is None or not item.screenshot_name or not _item_visible(item):
        abort(404)
    response = send_file(services.screenshot_path(item), mimetype=item.screenshot_type, max_age=300)
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/apps/review")
@login_required
def review_queue():
    return render_template("challenges/review.html", items=services.pending_for(current_user), **_labels())


@bp.post("/apps/<id:item_id>/review")
@login_required
def review(item_id: int):
    item = services.get_item(item_id) or abort(404)
    require(current_user, "showcase.review", item)
    _attempt(
        services.review,
        current_user,
        item,
        request.form.get("decision") == "approve",
        request.form.get("note", ""),
        success=_("Revisión registrada."),
    )
    return redirect(url_for("challenges.review_queue"))


@bp.get("/me/jury")
@login_required
def my_assignments():
    """Every submission assigned to me, across challenges."""
    assignments = services.assignments_of(current_user)
    challenge_ids = sorted({a.challenge_id for a in assignments})
    challenges = {
        c.id: c
        for c in db.session.execute(select(Challenge).where(Challenge.id.in_(challenge_ids))).scalars()
    }
    return render_template(
        "challenges/my_assignments.html", assignments=assignments, challenges=challenges, **_labels()
    )


# --- how challenges' actions read in the audit log ----------------------------------------------

audit.describe_actions(
    {
        "challenge.create": _l("creó un reto"),
        "challenge.update": _l("editó un reto"),
        "challenge.publish": _l("publicó un reto"),
        "challenge.open": _l("abrió un reto a soluciones"),
        "challenge.close": _l("cerró la recepción de soluciones"),
        "challenge.judging": _l("inició la evaluación de un reto"),
        "challenge.cancel": _l("canceló un reto"),
        "challenge.clarification.ask": _l("hizo una pregunta sobre un reto"),
        "challenge.clarification.answer": _l("respondió una pregunta sobre un reto"),
        "challenge.juror.add": _l("agregó a una persona al jurado"),
        "challenge.panel.lock": _l("cerró la integración del jurado"),
        "challenge.assign": _l("asignó soluciones al jurado"),
        "challenge.conflict.declare": _l("declaró un conflicto de interés"),
        "challenge.eligibility": _l("revisó la elegibilidad de una solución"),
        "challenge.score": _l("calificó una solución"),
        "challenge.award": _l("asignó los premios de un reto"),
        "challenge.results.publish": _l("publicó los resultados de un reto"),
        "challenge.submission": _l("entregó una solución"),
        "challenge.team.create": _l("formó un equipo"),
        "challenge.team.invite": _l("invitó a una persona a su equipo"),
        "challenge.team.renew_invite": _l("renovó la invitación de su equipo"),
        "challenge.team.join": _l("se unió a un equipo"),
        "challenge.team.leave": _l("dejó un equipo"),
        "challenge.team.captain": _l("cedió la capitanía de su equipo"),
        "challenge.team.legal_entity": _l("registró la persona moral de su equipo"),
        "showcase.propose": _l("propuso una app para la vitrina"),
        "showcase.review": _l("revisó una app propuesta para la vitrina"),
    }
)
audit.describe_values(["challenge.publish"], "status", services.STATUS_LABELS)
audit.link_objects("challenge", lambda object_id: url_for("challenges.detail", challenge_id=int(object_id)))
audit.link_objects("team", lambda object_id: url_for("challenges.team", team_id=int(object_id)))
audit.link_objects(
    "submission", lambda object_id: url_for("challenges.submission", submission_id=int(object_id))
)
audit.link_objects(
    "showcaseitem", lambda object_id: url_for("challenges.showcase_item", item_id=int(object_id))
)
audit.name_objects(
    {
        "challenge": _l("reto"),
        "team": _l("equipo"),
        "submission": _l("solución"),
        "showcaseitem": _l("app de la vitrina"),
    }
)
