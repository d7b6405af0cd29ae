"""JSON API of challenges, teams, submissions, clarifications, the jury, results and the
showcase (thin: services work)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from challenges import services
from challenges.limits import limit_messages
from challenges.models import (
    Challenge,
    ChallengeStatus,
    Clarification,
    ShowcaseItem,
    ShowcaseKind,
    Submission,
    SubmissionVersion,
    Team,
)
from challenges.permissions import may_view
from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.permissions import can
from core.timeutil import to_zone
from core.urls import external_url
from core.validation import SingleLineText

blp = ApiBlueprint(
    "challenges_api",
    __name__,
    description="Public challenges: terms, teams, versioned submissions, clarifications, the jury "
    "(conflicts, assignments, scores), results, the community vote and the showcase (/apps). Times "
    "are ISO 8601 with offset; a time without offset is read in the challenge's zone.",
)
SECURED = [{"bearerAuth": []}]


# --- schemas --------------------------------------------------------------------------------------


class DatasetRefSchema(ma.Schema):
    dataset = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "A catalogue dataset id; otherwise give title and url."},
    )
    title = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=500)])
    url = ma.fields.Url(validate=[SingleLineText(), ma.validate.Length(max=500)], schemes={"http", "https"})


class CriterionSchema(ma.Schema):
    criterion = ma.fields.String(
        required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=120)]
    )
    weight = ma.fields.Float(required=True, validate=ma.validate.Range(min=0, min_inclusive=False, max=1000))
    description = ma.fields.String(validate=ma.validate.Length(max=1000))


class ChallengeInSchema(ma.Schema):
    institution = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(max=64)])
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    summary = ma.fields.String(validate=ma.validate.Length(max=500))
    problem = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20000))
    expected_outcomes = ma.fields.String(validate=ma.validate.Length(max=20000))
    eligibility = ma.fields.String(validate=ma.validate.Length(max=20000))
    prizes = ma.fields.String(validate=ma.validate.Length(max=20000))
    categories = ma.fields.List(
        ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=60)]),
        validate=ma.validate.Length(max=12),
    )
    terms = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100000))
    opens_at = ma.fields.DateTime(required=True)
    closes_at = ma.fields.DateTime(required=True)
    timezone = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=64)])
    team_min = ma.fields.Integer(validate=ma.validate.Range(min=1, max=50))
    team_max = ma.fields.Integer(validate=ma.validate.Range(min=1, max=50))
    submission_limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=20))
    jurors_per_submission = ma.fields.Integer(validate=ma.validate.Range(min=1, max=20))
    community_vote = ma.fields.Boolean()
    scores_due_at = ma.fields.DateTime(allow_none=True)
    rubric = ma.fields.List(
        ma.fields.Nested(CriterionSchema), required=True, validate=ma.validate.Length(min=1, max=20)
    )
    datasets = ma.fields.List(ma.fields.Nested(DatasetRefSchema), validate=ma.validate.Length(max=30))
    event = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=2**31 - 1))


class ChallengePatchSchema(ChallengeInSchema):
    """Patch body: any subset of the create fields."""


class ChallengeSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    status = ma.fields.String()
    institution = ma.fields.String()
    title = ma.fields.String()
    summary = ma.fields.String()
    problem = ma.fields.String()
    expected_outcomes = ma.fields.String()
    eligibility = ma.fields.String()
    prizes = ma.fields.String()
    categories = ma.fields.List(ma.fields.String())
    terms = ma.fields.String()
    terms_version = ma.fields.Integer()
    terms_sha256 = ma.fields.String()
    opens_at = ma.fields.String()
    closes_at = ma.fields.String()
    timezone = ma.fields.String()
    team_min = ma.fields.Integer()
    team_max = ma.fields.Integer()
    submission_limit = ma.fields.Integer()
    jurors_per_submission = ma.fields.Integer()
    community_vote = ma.fields.Boolean()
    scores_due_at = ma.fields.String(allow_none=True)
    rubric = ma.fields.List(ma.fields.Nested(CriterionSchema))
    datasets = ma.fields.List(ma.fields.Dict())
    event = ma.fields.Integer(allow_none=True)
    cancel_reason = ma.fields.String(allow_none=True)
    panel_locked = ma.fields.Boolean()


class ChallengeCancelSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class TeamInSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=120)])


class TeamCreatedSchema(ma.Schema):
    id = ma.fields.Integer()
    invite_token = ma.fields.String()
    invite_url = ma.fields.String()


class JoinSchema(ma.Schema):
    invite_token = ma.fields.String(
        required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=500)]
    )


class InviteSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=3, max=254)])


class TeamPatchSchema(ma.Schema):
    legal_name = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=300)])
    rfc = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=20)])


class TeamSchema(ma.Schema):
    id = ma.fields.Integer()
    challenge = ma.fields.Integer()
    name = ma.fields.String()
    captain = ma.fields.Integer(allow_none=True)
    members = ma.fields.List(ma.fields.Dict())
    legal_name = ma.fields.String(allow_none=True)
    rfc = ma.fields.String(allow_none=True)
    award = ma.fields.String(allow_none=True)
    frozen = ma.fields.Boolean()


class SubmissionInSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    summary = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))
    repository_url = ma.fields.Url(
        required=True, validate=[SingleLineText(), ma.validate.Length(max=500)], schemes={"http", "https"}
    )
    demo_url = ma.fields.Url(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=500)], schemes={"http", "https"}
    )
    licence = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=64)])
    datasets = ma.fields.List(ma.fields.Nested(DatasetRefSchema), validate=ma.validate.Length(max=30))
    accept_terms = ma.fields.Boolean(required=True)


class SubmissionCreatedSchema(ma.Schema):
    id = ma.fields.Integer()
    version = ma.fields.Integer()
    terms_version = ma.fields.Integer()
    terms_sha256 = ma.fields.String()
    submitted_at = ma.fields.String()


class SubmissionSchema(ma.Schema):
    id = ma.fields.Integer()
    team = ma.fields.Integer()
    challenge = ma.fields.Integer()
    version = ma.fields.Integer()
    final = ma.fields.Boolean()
    versions = ma.fields.List(ma.fields.Dict())


class ClarificationInSchema(ma.Schema):
    question = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class AnswerSchema(ma.Schema):
    answer = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10000))


class ClarificationSchema(ma.Schema):
    id = ma.fields.Integer()
    question = ma.fields.String()
    answer = ma.fields.String(allow_none=True)
    asked_at = ma.fields.String()
    answered_at = ma.fields.String(allow_none=True)


class JurorInSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=3, max=254)])


class JurorSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    joined = ma.fields.Boolean()


class ConflictInSchema(ma.Schema):
    team = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=2**31 - 1))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class ConflictSchema(ma.Schema):
    id = ma.fields.Integer()
    team = ma.fields.Integer()
    reason = ma.fields.String()


class AssignmentInSchema(ma.Schema):
    per_submission = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=20))
    seed = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=2**31 - 1))


class AssignmentPlanSchema(ma.Schema):
    seed = ma.fields.Integer()
    per_submission = ma.fields.Integer()
    assignments = ma.fields.List(ma.fields.Dict())
    under_minimum = ma.fields.List(ma.fields.Integer())


class MyAssignmentSchema(ma.Schema):
    challenge = ma.fields.Integer()
    challenge_title = ma.fields.String()
    submission = ma.fields.Integer()
    team = ma.fields.String()
    title = ma.fields.String()
    scored = ma.fields.Boolean()


class ScoreInSchema(ma.Schema):
    scores = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=120)), values=ma.fields.Float(), required=True
    )
    comment = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))


class ScoreSchema(ma.Schema):
    submission = ma.fields.Integer()
    scores = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    comment = ma.fields.String()
    weighted = ma.fields.Float()
    updated_at = ma.fields.String()


class EligibilityInSchema(ma.Schema):
    eligible = ma.fields.Boolean(required=True)
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))


class RankingSchema(ma.Schema):
    team = ma.fields.String()
    team_id = ma.fields.Integer()
    submission = ma.fields.Integer()
    title = ma.fields.String()
    weighted_mean = ma.fields.Float(allow_none=True)
    z_score = ma.fields.Float(allow_none=True)
    jurors = ma.fields.Integer()
    rank = ma.fields.Integer(allow_none=True)
    z_rank = ma.fields.Integer(allow_none=True)
    tied = ma.fields.Boolean()
    under_minimum = ma.fields.Boolean()
    award = ma.fields.String(allow_none=True)
    community_votes = ma.fields.Integer()


class ResultsSchema(ma.Schema):
    published = ma.fields.Boolean()
    ranking = ma.fields.List(ma.fields.Nested(RankingSchema))


class AwardItemSchema(ma.Schema):
    team = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=2**31 - 1))
    award = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])


class AwardsSchema(ma.Schema):
    awards = ma.fields.List(
        ma.fields.Nested(AwardItemSchema), required=True, validate=ma.validate.Length(min=1, max=50)
    )


class VoteInSchema(ma.Schema):
    submission = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=2**31 - 1))


class ShowcaseInSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in ShowcaseKind]))
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    url = ma.fields.Url(
        required=True, validate=[SingleLineText(), ma.validate.Length(max=500)], schemes={"http", "https"}
    )
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    datasets = ma.fields.List(ma.fields.Nested(DatasetRefSchema), validate=ma.validate.Length(max=30))


class ShowcaseArgs(ma.Schema):
    kind = ma.fields.String(validate=ma.validate.OneOf([k.value for k in ShowcaseKind]))
    institution = ma.fields.String(validate=ma.validate.Length(max=64))
    dataset = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))


class ShowcaseSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    page = ma.fields.String()
    kind = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String()
    status = ma.fields.String()
    submission = ma.fields.Integer(allow_none=True)
    datasets = ma.fields.List(ma.fields.Dict())


class ChallengeListArgs(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in ChallengeStatus if s != "draft"]))
    institution = ma.fields.String(validate=ma.validate.Length(max=64))


# --- serialisation --------------------------------------------------------------------------------


def _iso(value, zone: str | None = None) -> str | None:
    if value is None:
        return None
    return (to_zone(value, zone) if zone else value).isoformat()


def challenge_dict(challenge: Challenge) -> dict[str, Any]:
    terms = challenge.current_terms
    zone = challenge.timezone
    return {
        "id": challenge.id,
        "url": external_url("challenges.detail", challenge_id=challenge.id),
        "status": str(challenge.status),
        "institution": challenge.institution.slug,
        "title": challenge.title,
        "summary": challenge.summary,
        "problem": challenge.problem,
        "expected_outcomes": challenge.expected_outcomes,
        "eligibility": challenge.eligibility,
        "prizes": challenge.prizes,
        "categories": list(challenge.categories or []),
        "terms": terms.text if terms else "",
        "terms_version": challenge.terms_version,
        "terms_sha256": terms.sha256 if terms else "",
        "opens_at": _iso(challenge.opens_at, zone),
        "closes_at": _iso(challenge.closes_at, zone),
        "timezone": zone,
        "team_min": challenge.team_min,
        "team_max": challenge.team_max,
        "submission_limit": challenge.submission_limit,
        "jurors_per_submission": challenge.jurors_per_submission,
        "community_vote": challenge.community_vote,
        "scores_due_at": _iso(challenge.scores_due_at, zone),
        "rubric": [
            {"criterion": c.name, "weight": c.weight, "description": c.description} for c in challenge.rubric
        ],
        "datasets": [{"dataset": d.dataset_id, "title": d.title, "url": d.url} for d in challenge.datasets],
        "event": challenge.event_id,
        "cancel_reason": challenge.cancel_reason,
        "panel_locked": challenge.panel_locked_at is not None,
    }


def _version_dict(version: SubmissionVersion, zone: str) -> dict[str, Any]:
    return {
        "version": version.version,
        "title": version.title,
        "summary": version.summary,
        "repository_url": version.repository_url,
        "demo_url": version.demo_url,
        "licence": version.licence,
        "datasets": version.datasets_used,
        "terms_version": version.terms_version,
        "terms_sha256": version.terms_sha256,
        "submitted_at": _iso(version.submitted_at, zone),
        "attachments": [
            {
                "id": a.id,
                "name": a.original_name,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "url": external_url("challenges.attachment", attachment_id=a.id),
            }
            for a in version.attachments
        ],
    }


def team_dict(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "challenge": team.challenge_id,
        "name": team.name,
        "captain": team.captain_id,
        "members": [{"id": m.user_id, "name": m.user.name, "role": str(m.role)} for m in team.members],
        "legal_name": team.legal_name,
        "rfc": team.rfc,
        "award": team.award,
        "frozen": team.frozen_at is not None,
    }


def showcase_dict(item: ShowcaseItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "url": item.url,
        "page": external_url("challenges.showcase_item", item_id=item.id),
        "kind": str(item.kind),
        "title": item.title,
        "description": item.description,
        "status": str(item.status),
        "submission": item.submission_id,
        "datasets": [{"dataset": d.dataset_id, "title": d.title, "url": d.url} for d in item.datasets],
    }


# --- helpers --------------------------------------------------------------------------------------


def _run(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except DomainError as exc:
        db.session.rollback()
        fields = {exc.field: [str(exc.message)]} if exc.field else None
        api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)


def _challenge_or_404(challenge_id: int) -> Challenge:
    challenge = services.get_challenge(challenge_id)
    if challenge is None or not may_view(api_user(), challenge):
        api_abort(404, _("No existe ese reto."))
    return challenge


def _managed_or_404(challenge_id: int) -> Challenge:
    challenge = _challenge_or_404(challenge_id)
    if not can(api_user(), "challenges.manage", challenge):
        api_abort(403, _("Solo la institución del reto (sus enlaces y su personal) puede hacer esto."))
    return challenge


def _team_or_404(team_id: int) -> Team:
    team = services.get_team(team_id)
    if team is None or not may_view(api_user(), team.challenge):
        api_abort(404, _("No existe ese equipo."))
    return team


def _team_to_submit_for(team_id: int) -> Team:
    """The team row with its challenge (submitting needs no more than that)."""
    from sqlalchemy.orm import joinedload

    team = db.session.get(Team, team_id, options=[joinedload(Team.challenge)])
    if team is None or not may_view(api_user(), team.challenge):
        api_abort(404, _("No existe ese equipo."))
    return team


def _submission_or_404(submission_id: int) -> Submission:
    submission = services.get_submission(submission_id)
    if submission is None:
        api_abort(404, _("No existe esa entrega."))
    return submission


def _may_see_submission(submission: Submission) -> bool:
    user = api_user()
    if user is None:
        return False
    team = services.get_team(submission.team_id)
    return (
        services.is_member(user, team)
        or can(user, "challenges.manage", submission.challenge)
        or services.juror_for(user, submission.challenge_id) is not None
    )


# --- challenges -----------------------------------------------------------------------------------


@blp.route("/challenges")
class Challenges(MethodView):
    @blp.arguments(ChallengeListArgs, location="query")
    @blp.response(200, ChallengeSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=100)
    def get(self, args, pagination_parameters):
        """Public challenges (not drafts), newest close first."""
        query = select(Challenge).where(Challenge.status != ChallengeStatus.draft)
        if args.get("status"):
            query = query.where(Challenge.status == args["status"])
        if args.get("institution"):
            query = query.join(Institution, Institution.id == Challenge.institution_id).where(
                Institution.slug == args["institution"]
            )
        from sqlalchemy import func

        pagination_parameters.item_count = db.session.execute(
            select(func.count()).select_from(query.subquery())
        ).scalar_one()
        rows = db.session.execute(
            query.order_by(Challenge.closes_at.desc(), Challenge.id.desc())
            .limit(pagination_parameters.page_size)
            .offset((pagination_parameters.page - 1) * pagination_parameters.page_size)
        ).scalars()
        return [challenge_dict(services.get_challenge(c.id)) for c in rows]

    @blp.doc(security=SECURED)
    @blp.arguments(ChallengeInSchema)
    @blp.response(201, ChallengeSchema)
    @auth_required
    def post(self, payload):
        """Create a draft challenge (`status: draft`, `terms_version: 1`)."""
        slug = payload.pop("institution")
        institution = db.session.execute(
            select(Institution).where(Institution.slug == slug)
        ).scalar_one_or_none()
        if institution is None:
            api_abort(
                422,
                _("No existe la institución '%(slug)s'.", slug=slug),
                fields={"institution": [_("Institución desconocida.")]},
            )
        if not can(api_user(), "challenges.manage", institution):
            api_abort(403, _("Solo los enlaces y el personal de la institución pueden crear sus retos."))
        challenge = _run(services.create_challenge, api_user(), institution, payload)
        return challenge_dict(services.get_challenge(challenge.id))


@blp.route("/challenges/<id:challenge_id>")
class ChallengeItem(MethodView):
    @blp.response(200, ChallengeSchema)
    def get(self, challenge_id: int):
        """One challenge with its current terms, rubric and datasets."""
        return challenge_dict(_challenge_or_404(challenge_id))

    @blp.doc(security=SECURED)
    @blp.arguments(ChallengePatchSchema(partial=True))
    @blp.response(200, ChallengeSchema)
    @auth_required
    def patch(self, payload, challenge_id: int):
        """Edit; new `terms` text makes a new terms version; a moved close moves the reminders."""
        challenge = _managed_or_404(challenge_id)
        payload.pop("institution", None)
        _run(services.update_challenge, api_user(), challenge, payload)
        return challenge_dict(services.get_challenge(challenge_id))


def _transition_route(path: str, func_name: str, doc: str, schema=None):
    def post_plain(self, challenge_id: int):
        challenge = _managed_or_404(challenge_id)
        _run(getattr(services, func_name), api_user(), challenge)
        return challenge_dict(services.get_challenge(challenge_id))

    def post_with(self, payload, challenge_id: int):
        challenge = _managed_or_404(challenge_id)
        _run(getattr(services, func_name), api_user(), challenge, payload["reason"])
        return challenge_dict(services.get_challenge(challenge_id))

    handler = post_with if schema else post_plain
    handler.__doc__ = doc
    handler = auth_required(handler)
    handler = blp.response(200, ChallengeSchema)(handler)
    if schema:
        handler = blp.arguments(schema)(handler)
    handler = blp.doc(security=SECURED)(handler)
    view = type(f"Transition_{func_name}", (MethodView,), {"post": handler})
    blp.route(path)(view)


_transition_route(
    "/challenges/<id:challenge_id>/publish",
    "publish_challenge",
    "Publish a draft: `published`, or `open` at once when `opens_at` has passed (409 illegal_transition).",
)
_transition_route(
    "/challenges/<id:challenge_id>/cancel",
    "cancel_challenge",
    "Cancel with a reason (any state before awarded); every team and juror is told.",
    ChallengeCancelSchema,
)
_transition_route(
    "/challenges/<id:challenge_id>/judging",
    "start_judging",
    "Move a closed challenge to judging.",
)
_transition_route(
    "/challenges/<id:challenge_id>/panel/lock",
    "lock_panel",
    "Lock the jury panel: scores no longer change.",
)
_transition_route(
    "/challenges/<id:challenge_id>/results/publish",
    "publish_results",
    "Publish the results (judging → results_published); everyone is told.",
)


@blp.route("/challenges/<id:challenge_id>/awards")
class Awards(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(AwardsSchema)
    @blp.response(200, ChallengeSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """Mark the awarded teams (results_published → awarded); winners join the showcase."""
        challenge = _managed_or_404(challenge_id)
        _run(services.award, api_user(), challenge, payload["awards"])
        return challenge_dict(services.get_challenge(challenge_id))


# --- teams ----------------------------------------------------------------------------------------


@blp.route("/challenges/<id:challenge_id>/teams")
class Teams(MethodView):
    @blp.response(200, TeamSchema(many=True))
    def get(self, challenge_id: int):
        """The teams of a challenge."""
        challenge = _challenge_or_404(challenge_id)
        ids = db.session.execute(
            select(Team.id).where(Team.challenge_id == challenge.id).order_by(Team.id)
        ).scalars()
        return [team_dict(services.get_team(team_id)) for team_id in ids]

    @blp.doc(security=SECURED)
    @blp.arguments(TeamInSchema)
    @blp.response(201, TeamCreatedSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """Create a team and become its captain; `invite_token` lets others join (409 already_in_team)."""
        challenge = _challenge_or_404(challenge_id)
        team = _run(services.create_team, api_user(), challenge, payload["name"])
        return {
            "id": team.id,
            "invite_token": services.invite_token(team),
            "invite_url": services.invite_url(team),
        }


@blp.route("/teams/<id:team_id>")
class TeamItem(MethodView):
    @blp.response(200, TeamSchema)
    def get(self, team_id: int):
        """A team and its members."""
        return team_dict(_team_or_404(team_id))

    @blp.doc(security=SECURED)
    @blp.arguments(TeamPatchSchema)
    @blp.response(200, TeamSchema)
    @auth_required
    def patch(self, payload, team_id: int):
        """Set the legal entity for contracting (name and RFC, format checked; captain only)."""
        team = _team_or_404(team_id)
        _run(services.set_legal_entity, api_user(), team, payload.get("legal_name"), payload.get("rfc"))
        return team_dict(services.get_team(team_id))


@blp.route("/teams/<id:team_id>/members")
class Members(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(JoinSchema)
    @blp.response(201, TeamSchema)
    @blp.alt_response(409, schema=None, description="already_in_team, team_full or membership_frozen.")
    @auth_required
    def post(self, payload, team_id: int):
        """Join with the team's invitation token (size limit checked under a row lock)."""
        team = _team_or_404(team_id)
        _run(services.join_team, api_user(), team, payload["invite_token"])
        return team_dict(services.get_team(team_id))


@blp.route("/teams/<id:team_id>/invitations")
class Invitations(MethodView):
    decorators = [limit_messages]

    @blp.doc(security=SECURED)
    @blp.arguments(InviteSchema)
    @blp.response(201, InviteSchema)
    @auth_required
    def post(self, payload, team_id: int):
        """Email the team's invitation link to someone (team members only)."""
        team = _team_or_404(team_id)
        if not services.is_member(api_user(), team):
            api_abort(403, _("Solo los miembros del equipo pueden invitar."))
        invitation = _run(services.invite_by_email, api_user(), team, payload["email"])
        return {"email": invitation.email}


# --- submissions ----------------------------------------------------------------------------------


@blp.route("/teams/<id:team_id>/submissions")
class Submissions(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, SubmissionSchema(many=True))
    @auth_required
    def get(self, team_id: int):
        """The team's solutions (members, managers and jurors)."""
        team = _team_or_404(team_id)
        result = []
        for submission in services.team_submissions(team.id):
            if not _may_see_submission(submission):
                api_abort(403, _("Solo el equipo, la institución y el jurado ven las entregas."))
            result.append(_submission_dict(submission))
        return result

    @blp.doc(security=SECURED)
    @blp.arguments(SubmissionInSchema)
    @blp.response(201, SubmissionCreatedSchema)
    @blp.alt_response(409, schema=None, description="submissions_closed or submission_limit.")
    @auth_required
    def post(self, payload, team_id: int):
        """A new solution (version 1); the per-team limit counts solutions."""
        team = _team_to_submit_for(team_id)
        version = _run(services.submit, api_user(), team, payload)
        return _created(version)


def _created(version: SubmissionVersion) -> dict[str, Any]:
    return {
        "id": version.submission_id,
        "version": version.version,
        "terms_version": version.terms_version,
        "terms_sha256": version.terms_sha256,
        "submitted_at": _iso(version.submitted_at),
    }


def _submission_dict(submission: Submission) -> dict[str, Any]:
    zone = submission.challenge.timezone
    return {
        "id": submission.id,
        "team": submission.team_id,
        "challenge": submission.challenge_id,
        "version": submission.current_version,
        "final": not services.window_open(submission.challenge),
        "versions": [_version_dict(v, zone) for v in submission.versions],
    }


@blp.route("/submissions/<id:submission_id>")
class SubmissionItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, SubmissionSchema)
    @auth_required
    def get(self, submission_id: int):
        """A solution with every version (the last one before the close is final)."""
        submission = _submission_or_404(submission_id)
        if not _may_see_submission(submission):
            api_abort(403, _("Solo el equipo, la institución y el jurado ven las entregas."))
        return _submission_dict(submission)

    @blp.doc(security=SECURED)
    @blp.arguments(SubmissionInSchema)
    @blp.response(200, SubmissionCreatedSchema)
    @blp.alt_response(409, schema=None, description="submissions_closed.")
    @auth_required
    def put(self, payload, submission_id: int):
        """A new version of the solution, until the close."""
        submission = _submission_or_404(submission_id)
        team = services.get_team(submission.team_id)
        version = _run(services.submit, api_user(), team, payload, submission=submission)
        return _created(version)


@blp.route("/submissions/<id:submission_id>/eligibility")
class Eligibility(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(EligibilityInSchema)
    @blp.response(200, EligibilityInSchema)
    @auth_required
    def post(self, payload, submission_id: int):
        """The eligibility gate: pass or fail with a reason (the institution)."""
        submission = _submission_or_404(submission_id)
        if not can(api_user(), "challenges.manage", submission.challenge):
            api_abort(403, _("Solo la institución del reto revisa la elegibilidad."))
        check = _run(services.set_eligibility, api_user(), submission, payload["eligible"], payload["reason"])
        return {"eligible": check.eligible, "reason": check.reason}


# --- clarifications -------------------------------------------------------------------------------


def _clarification_dict(c: Clarification) -> dict[str, Any]:
    return {
        "id": c.id,
        "question": c.question,
        "answer": c.answer,
        "asked_at": _iso(c.created_at),
        "answered_at": _iso(c.answered_at),
    }


@blp.route("/challenges/<id:challenge_id>/clarifications")
class Clarifications(MethodView):
    decorators = [limit_messages]

    @blp.response(200, ClarificationSchema(many=True))
    def get(self, challenge_id: int):
        """Public questions and official answers."""
        challenge = _challenge_or_404(challenge_id)
        return [_clarification_dict(c) for c in services.clarifications_of(challenge.id)]

    @blp.doc(security=SECURED)
    @blp.arguments(ClarificationInSchema)
    @blp.response(201, ClarificationSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """Ask a public question."""
        challenge = _challenge_or_404(challenge_id)
        return _clarification_dict(_run(services.ask, api_user(), challenge, payload["question"]))


@blp.route("/clarifications/<id:clarification_id>/answer")
class ClarificationAnswer(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(AnswerSchema)
    @blp.response(200, ClarificationSchema)
    @auth_required
    def post(self, payload, clarification_id: int):
        """The official answer (the institution); every team is told."""
        clarification = db.session.get(Clarification, clarification_id)
        if clarification is None:
            api_abort(404, _("No existe esa aclaración."))
        _managed_or_404(clarification.challenge_id)
        return _clarification_dict(_run(services.answer, api_user(), clarification, payload["answer"]))


# --- jury -----------------------------------------------------------------------------------------


@blp.route("/challenges/<id:challenge_id>/jurors")
class Jurors(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, JurorSchema(many=True))
    @auth_required
    def get(self, challenge_id: int):
        """The jury (the institution)."""
        challenge = _managed_or_404(challenge_id)
        return [
            {"id": j.id, "email": j.email, "joined": j.user_id is not None}
            for j in services.jurors_of(challenge.id)
        ]

    @blp.doc(security=SECURED)
    @blp.arguments(JurorInSchema)
    @blp.response(201, JurorSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """Invite a juror: an account joins at once and is told; an unknown address is invited to sign up."""
        challenge = _managed_or_404(challenge_id)
        juror = _run(services.add_juror, api_user(), challenge, payload["email"])
        return {"id": juror.id, "email": juror.email, "joined": juror.user_id is not None}


@blp.route("/challenges/<id:challenge_id>/conflicts")
class Conflicts(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(ConflictInSchema)
    @blp.response(201, ConflictSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """A juror declares a conflict of interest with a team (reason kept)."""
        challenge = _challenge_or_404(challenge_id)
        conflict = _run(services.declare_conflict, api_user(), challenge, payload["team"], payload["reason"])
        return {"id": conflict.id, "team": conflict.team_id, "reason": conflict.reason}


def _plan_dict(plan) -> dict[str, Any]:
    return {
        "seed": plan.seed,
        "per_submission": plan.per_submission,
        "assignments": [{"submission": s, "jurors": jurors} for s, jurors in plan.by_submission.items()],
        "under_minimum": plan.short,
    }


@blp.route("/challenges/<id:challenge_id>/assignments")
class Assignments(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(AssignmentInSchema)
    @blp.response(200, AssignmentPlanSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """Seeded, reproducible assignment: each submission gets N non-conflicted jurors."""
        challenge = _managed_or_404(challenge_id)
        return _plan_dict(
            _run(services.assign, api_user(), challenge, payload["per_submission"], payload["seed"])
        )


@blp.route("/me/assignments")
class MyAssignments(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, MyAssignmentSchema(many=True))
    @auth_required
    def get(self):
        """The submissions assigned to me as a juror."""
        user = api_user()
        rows = services.assignments_of(user)
        scored: dict[int, set[int]] = {}
        result = []
        for assignment in rows:
            challenge_id = assignment.challenge_id
            if challenge_id not in scored:
                scored[challenge_id] = set(services.scores_of(user, challenge_id))
            challenge = db.session.get(Challenge, challenge_id)
            result.append(
                {
                    "challenge": challenge_id,
                    "challenge_title": challenge.title,
                    "submission": assignment.submission_id,
                    "team": assignment.submission.team.name,
                    "title": assignment.submission.latest.title,
                    "scored": assignment.submission_id in scored[challenge_id],
                }
            )
        return result


@blp.route("/submissions/<id:submission_id>/score")
class ScoreItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(ScoreInSchema)
    @blp.response(200, ScoreSchema)
    @blp.alt_response(403, schema=None, description="conflict_of_interest or not_assigned.")
    @auth_required
    def put(self, payload, submission_id: int):
        """Score an assigned submission on every rubric criterion (0–10), editable until the lock."""
        submission = _submission_or_404(submission_id)
        row = _run(services.score, api_user(), submission, payload["scores"], payload.get("comment"))
        challenge = services.get_challenge(submission.challenge_id)
        return {
            "submission": submission.id,
            "scores": row.values,
            "comment": row.comment,
            "weighted": round(services.weighted_total(challenge, row.values), 4),
            "updated_at": _iso(row.updated_at),
        }


# --- results --------------------------------------------------------------------------------------


def results_dict(challenge: Challenge, *, full: bool) -> dict[str, Any]:
    published = challenge.status in (ChallengeStatus.results_published, ChallengeStatus.awarded)
    rows = services.ranking(challenge) if (published or full) else []
    return {
        "published": published,
        "ranking": [
            {
                "team": r.team,
                "team_id": r.team_id,
                "submission": r.submission_id,
                "title": r.title,
                "weighted_mean": r.weighted_mean,
                "z_score": r.z_score,
                "jurors": r.jurors,
                "rank": r.rank,
                "z_rank": r.z_rank,
                "tied": r.tied,
                "under_minimum": r.under_minimum,
                "award": r.award,
                "community_votes": r.community_votes,
            }
            for r in rows
        ],
    }


@blp.route("/challenges/<id:challenge_id>/results")
class Results(MethodView):
    @blp.response(200, ResultsSchema)
    def get(self, challenge_id: int):
        """The ranking: public once published; the institution sees the draft."""
        challenge = _challenge_or_404(challenge_id)
        return results_dict(challenge, full=can(api_user(), "challenges.manage", challenge))


@blp.route("/challenges/<id:challenge_id>/votes")
class Votes(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(VoteInSchema)
    @blp.response(201, VoteInSchema)
    @auth_required
    def post(self, payload, challenge_id: int):
        """Community choice: one vote per verified person (409 already_voted)."""
        challenge = _challenge_or_404(challenge_id)
        ballot = _run(services.vote, api_user(), challenge, payload["submission"])
        return {"submission": ballot.submission_id}


# --- showcase -------------------------------------------------------------------------------------


@blp.route("/showcase")
class Showcase(MethodView):
    decorators = [limit_messages]

    @blp.arguments(ShowcaseArgs, location="query")
    @blp.response(200, ShowcaseSchema(many=True))
    def get(self, args):
        """Published apps, visualisations, tools, research and articles (filter by kind,
        institution, dataset)."""
        institution_id = None
        if args.get("institution"):
            institution = db.session.execute(
                select(Institution).where(Institution.slug == args["institution"])
            ).scalar_one_or_none()
            if institution is None:
                return []
            institution_id = institution.id
        page = services.list_showcase(
            kind=args.get("kind"),
            institution_id=institution_id,
            dataset_id=args.get("dataset"),
            page=args["page"],
        )
        return [showcase_dict(item) for item in page.items]

    @blp.doc(security=SECURED)
    @blp.arguments(ShowcaseInSchema)
    @blp.response(201, ShowcaseSchema)
    @auth_required
    def post(self, payload):
        """Propose an item (published after an admin or a dataset's institution approves it)."""
        item = _run(services.propose, api_user(), payload)
        return showcase_dict(services.get_item(item.id))
