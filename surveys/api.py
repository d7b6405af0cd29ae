"""JSON API of surveys: building, lifecycle, answering, results, wiki surveys, exports."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.permissions import can
from core.timeutil import to_zone
from core.urls import external_url
from core.validation import SingleLineText
from demand.models import Dataset
from surveys import services
from surveys.limits import limit_submissions
from surveys.models import Privacy, QuestionKind, Survey, SurveyChoice, SurveyStatus
from surveys.services import exports, moderation, results, wiki

blp = ApiBlueprint(
    "surveys_api",
    __name__,
    description="Public surveys and wiki surveys: build, open, answer once (editable until the close), "
    "results with small-cell suppression, pairwise votes and ideas, exports. "
    'A suppressed count in a breakdown is the string "<5" (under the threshold) or "suppressed" '
    "(hidden so the small one cannot be worked out from the totals).",
)
SECURED = [{"bearerAuth": []}]


# --- schemas ----------------------------------------------------------------------------------


class SurveyQuestionInSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in QuestionKind]))
    prompt = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=500)])
    help_text = ma.fields.String(validate=ma.validate.Length(max=2000))
    required = ma.fields.Boolean()
    choices = ma.fields.List(
        ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=500)]),
        validate=ma.validate.Length(max=60),
    )
    min = ma.fields.Float(
        allow_none=True,
        metadata={
            "description": "multiple_choice: fewest picks; number: lowest "
            "value; pairwise: comparisons before an idea is ranked."
        },
    )
    max = ma.fields.Float(
        allow_none=True, metadata={"description": "multiple_choice: most picks; number: highest value."}
    )
    scale_min = ma.fields.Integer(allow_none=True)
    scale_max = ma.fields.Integer(allow_none=True)
    scale_min_label = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=100)]
    )
    scale_max_label = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=100)]
    )
    section = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=200)])
    show_if = ma.fields.Dict(
        allow_none=True,
        metadata={
            "description": 'Show only when an earlier answer matches: {"question": <1-based number of an '
            'earlier question in this list, or its id>, "choices": [<labels or ids>]} or '
            '{"question": n, "min": x, "max": y} for ratings and numbers.'
        },
    )


class SurveyInSchema(ma.Schema):
    institution = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(max=64)])
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    description = ma.fields.String(validate=ma.validate.Length(max=20000))
    privacy = ma.fields.String(required=True, validate=ma.validate.OneOf([p.value for p in Privacy]))
    opens_at = ma.fields.DateTime(allow_none=True)
    closes_at = ma.fields.DateTime(required=True)
    timezone = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=64)])
    live_results = ma.fields.Boolean()
    invitation_only = ma.fields.Boolean()
    suppression_threshold = ma.fields.Integer(validate=ma.validate.Range(min=2, max=100))
    questions = ma.fields.List(ma.fields.Nested(SurveyQuestionInSchema), validate=ma.validate.Length(max=100))


class SurveyPatchSchema(SurveyInSchema):
    """Any subset of the create fields; `questions` replaces them all (only before the first answer)."""


class SurveyChoiceSchema(ma.Schema):
    id = ma.fields.Integer()
    label = ma.fields.String()


class SurveyQuestionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    prompt = ma.fields.String()
    help_text = ma.fields.String()
    required = ma.fields.Boolean()
    section_id = ma.fields.Integer(allow_none=True)
    choices = ma.fields.List(ma.fields.Nested(SurveyChoiceSchema))
    min = ma.fields.Float(allow_none=True)
    max = ma.fields.Float(allow_none=True)
    scale_min = ma.fields.Integer(allow_none=True)
    scale_max = ma.fields.Integer(allow_none=True)
    scale_min_label = ma.fields.String(allow_none=True)
    scale_max_label = ma.fields.String(allow_none=True)
    show_if = ma.fields.Dict(allow_none=True)
    datasets = ma.fields.List(
        ma.fields.Nested(SurveyChoiceSchema), metadata={"description": "dataset_demand: the catalogue."}
    )
    intended_uses = ma.fields.List(ma.fields.String())


class SurveySchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    institution = ma.fields.Dict()
    title = ma.fields.String()
    description = ma.fields.String()
    privacy = ma.fields.String()
    privacy_explanation = ma.fields.String()
    status = ma.fields.String()
    opens_at = ma.fields.String(allow_none=True)
    closes_at = ma.fields.String()
    timezone = ma.fields.String()
    live_results = ma.fields.Boolean()
    invitation_only = ma.fields.Boolean()
    suppression_threshold = ma.fields.Integer()
    respondents = ma.fields.Integer()
    questions_locked = ma.fields.Boolean()
    sections = ma.fields.List(ma.fields.Dict())
    questions = ma.fields.List(ma.fields.Nested(SurveyQuestionSchema))
    results_published_at = ma.fields.String(allow_none=True)


class SurveyListArgs(ma.Schema):
    institution = ma.fields.String(validate=ma.validate.Length(max=64))
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in SurveyStatus]))


class SurveyResponseInSchema(ma.Schema):
    answers = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=20)),
        values=ma.fields.Raw(allow_none=True),
        required=True,
        metadata={
            "description": "By question id: a choice id (single), a list of choice ids (multiple; "
            "ranking in order), an integer (rating), a number, a string (texts), and for "
            'dataset_demand {"datasets": [ids], "new": [{"title", "description"?}], "intended_use"}.'
        },
    )
    profile = ma.fields.Dict(
        metadata={
            "description": "Optional sector, state and intended_use kept with the answer set "
            "(defaults: the account's sector and state)."
        }
    )


class SurveyResponseSchema(ma.Schema):
    survey = ma.fields.Integer()
    answers = ma.fields.Dict()
    sector = ma.fields.String(allow_none=True)
    state = ma.fields.String(allow_none=True)
    intended_use = ma.fields.String(allow_none=True)
    created_at = ma.fields.String()
    updated_at = ma.fields.String()


class SurveyResultsSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    survey = ma.fields.Integer()
    status = ma.fields.String()
    respondents = ma.fields.Integer()
    suppression_threshold = ma.fields.Integer()
    questions = ma.fields.List(ma.fields.Dict())
    breakdowns = ma.fields.Dict()
    dictionary = ma.fields.Dict()


class WikiPairSchema(ma.Schema):
    token = ma.fields.String()
    left = ma.fields.Dict()
    right = ma.fields.Dict()


class WikiVoteInSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=64)])
    choice = ma.fields.String(required=True, validate=ma.validate.OneOf(["left", "right", "skip"]))


class WikiVoteSchema(ma.Schema):
    id = ma.fields.Integer()
    choice = ma.fields.String()


class WikiIdeaInSchema(ma.Schema):
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))


class WikiIdeaSchema(ma.Schema):
    id = ma.fields.Integer()
    text = ma.fields.String()
    status = ma.fields.String()


class SurveyModerationInSchema(ma.Schema):
    approve = ma.fields.Boolean(required=True)


class SurveyInvitationsInSchema(ma.Schema):
    count = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=500))
    label = ma.fields.String(load_default="", validate=[SingleLineText(), ma.validate.Length(max=200)])


class SurveyInvitationsSchema(ma.Schema):
    links = ma.fields.List(ma.fields.String())


class SurveyRedeemInSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=500)])


class SurveyExportArgs(ma.Schema):
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(["csv", "xlsx"]))


class SurveyExportSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    progress = ma.fields.Integer()
    total = ma.fields.Integer()
    download_url = ma.fields.String(allow_none=True)


# --- serialisation --------------------------------------------------------------------------


def _iso(value, zone: str | None = None) -> str | None:
    if value is None:
        return None
    return (to_zone(value, zone) if zone else value).isoformat()


def _catalogue(survey: Survey) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Dataset.id, Dataset.title)
        .where(Dataset.institution_id == survey.institution_id, Dataset.withdrawn_at.is_(None))
        .order_by(Dataset.title)
    ).all()
    return [{"id": i, "label": t} for i, t in rows]


def question_dict(question, catalogue: list | None = None) -> dict[str, Any]:
    data = {
        "id": question.id,
        "kind": str(question.kind),
        "prompt": question.prompt,
        "help_text": question.help_text,
        "required": question.required,
        "section_id": question.section_id,
        "choices": [{"id": c.id, "label": c.label} for c in question.approved_choices],
        "min": question.min_value,
        "max": question.max_value,
        "scale_min": question.scale_min,
        "scale_max": question.scale_max,
        "scale_min_label": question.scale_min_label,
        "scale_max_label": question.scale_max_label,
        "show_if": question.show_if,
    }
    if question.kind == QuestionKind.dataset_demand:
        from demand.models import IntendedUse

        data["datasets"] = catalogue or []
        data["intended_uses"] = [u.value for u in IntendedUse]
    return data


def survey_dict(survey: Survey) -> dict[str, Any]:
    """A survey as the API shows it."""
    zone = survey.timezone
    catalogue = (
        _catalogue(survey) if any(q.kind == QuestionKind.dataset_demand for q in survey.questions) else []
    )
    respondents = services.respondent_count(survey)
    return {
        "id": survey.id,
        "url": external_url("surveys.answer", survey_id=survey.id),
        "institution": {
            "slug": survey.institution.slug,
            "name": survey.institution.name,
            "acronym": survey.institution.acronym,
        },
        "title": survey.title,
        "description": survey.description,
        "privacy": str(survey.privacy),
        "privacy_explanation": str(services.PRIVACY_EXPLANATIONS[Privacy(survey.privacy)]),
        "status": str(survey.status),
        "opens_at": _iso(survey.opens_at, zone),
        "closes_at": _iso(survey.closes_at, zone),
        "timezone": zone,
        "live_results": survey.live_results,
        "invitation_only": survey.invitation_only,
        "suppression_threshold": survey.suppression_threshold,
        "respondents": respondents,
        "questions_locked": respondents > 0,
        "sections": [{"id": s.id, "title": s.title, "description": s.description} for s in survey.sections],
        "questions": [question_dict(q, catalogue) for q in survey.questions],
        "results_published_at": _iso(survey.results_published_at, zone),
    }


def response_dict(saved: dict[str, Any], survey_id: int, privacy: str, zone: str) -> dict[str, Any]:
    """An answer set as its author sees it (no times for anonymous surveys)."""
    anonymous = privacy == Privacy.anonymous
    return {
        "survey": survey_id,
        "answers": saved["answers"],
        "sector": saved["sector"],
        "state": saved["state"],
        "intended_use": saved["intended_use"],
        "created_at": None if anonymous else _iso(saved["created_at"], zone),
        "updated_at": None if anonymous else _iso(saved["updated_at"], zone),
    }


# --- helpers ----------------------------------------------------------------------------------


def _run(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except DomainError as exc:
        db.session.rollback()
        fields = {exc.field: [str(exc.message)]} if exc.field else None
        api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)


def _may_manage(survey: Any) -> bool:
    return can(api_user(), "surveys.manage", survey)


def _survey_or_404(survey_id: int) -> Survey:
    survey = services.get_survey(survey_id)
    if survey is None or (survey.status == SurveyStatus.draft and not _may_manage(survey)):
        api_abort(404, _("No existe esa encuesta."))
    return survey


def _managed_or_404(survey_id: int) -> Survey:
    survey = _survey_or_404(survey_id)
    if not _may_manage(survey):
        api_abort(403, _("Solo la institución de la encuesta (sus enlaces y su personal) puede hacer esto."))
    return survey


# --- surveys ----------------------------------------------------------------------------------


@blp.route("/surveys")
class Surveys(MethodView):
    @blp.arguments(SurveyListArgs, location="query")
    @blp.response(200, SurveySchema(many=True))
    @blp.paginate(page_size=20, max_page_size=100)
    def get(self, args, pagination_parameters):
        """Open and published surveys (and, for its managers, an institution's drafts)."""
        page = services.list_surveys(
            institution=args.get("institution"),
            status=args.get("status"),
            viewer=api_user(),
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return [survey_dict(s) for s in page.items]

    @blp.doc(security=SECURED)
    @blp.arguments(SurveyInSchema)
    @blp.response(201, SurveySchema)
    @auth_required
    def post(self, payload):
        """Create a draft survey for an institution you manage."""
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
        if not can(api_user(), "surveys.manage", institution):
            api_abort(403, _("Solo los enlaces y el personal de la institución pueden crear sus encuestas."))
        survey = _run(services.create_survey, api_user(), institution, payload)
        return survey_dict(survey)


@blp.route("/surveys/<id:survey_id>")
class SurveyItem(MethodView):
    @blp.response(200, SurveySchema)
    def get(self, survey_id: int):
        """One survey with its questions (choices as `{"id", "label"}`)."""
        return survey_dict(_survey_or_404(survey_id))

    @blp.doc(security=SECURED)
    @blp.arguments(SurveyPatchSchema(partial=True))
    @blp.response(200, SurveySchema)
    @auth_required
    def patch(self, payload, survey_id: int):
        """Edit; `questions` replaces the questions (409 `questions_locked` once answered)."""
        survey = _managed_or_404(survey_id)
        payload.pop("institution", None)
        return survey_dict(_run(services.update_survey, api_user(), survey, payload))


def _transition(name: str, func):
    @blp.route(f"/surveys/<id:survey_id>/{name}", endpoint=f"survey_{name.replace('-', '_')}")
    class Transition(MethodView):
        @blp.doc(security=SECURED)
        @blp.response(200, SurveySchema)
        @blp.alt_response(409, schema=None, description="illegal_transition")
        @auth_required
        def post(self, survey_id: int):
            survey = _managed_or_404(survey_id)
            return survey_dict(_run(func, api_user(), survey))

    Transition.post.__doc__ = {
        "open": "Open a draft (scheduled when `opens_at` is ahead).",
        "close": "Close an open survey (anonymous: the key is destroyed).",
        "publish-results": "Publish the results of a closed survey.",
    }[name]
    return Transition


OpenSurvey = _transition("open", services.open_survey)
CloseSurvey = _transition("close", services.close_survey)
PublishResults = _transition("publish-results", services.publish_results)


@blp.route("/surveys/<id:survey_id>/duplicate")
class Duplicate(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(201, SurveySchema)
    @auth_required
    def post(self, survey_id: int):
        """A draft copy of the survey's settings and questions."""
        survey = _managed_or_404(survey_id)
        return survey_dict(_run(services.duplicate_survey, api_user(), survey))


# --- answering --------------------------------------------------------------------------------


@blp.route("/surveys/<id:survey_id>/response")
class MyResponse(MethodView):
    decorators = [limit_submissions]

    @blp.doc(security=SECURED)
    @blp.response(200, SurveyResponseSchema)
    @auth_required
    def get(self, survey_id: int):
        """My answer set (404 when none, or when an anonymous survey's key was destroyed)."""
        survey = _survey_or_404(survey_id)
        response = services.response_of(api_user(), survey)
        if response is None:
            api_abort(404, _("No has respondido esta encuesta."), code="no_response")
        saved = services.responses.snapshot(response)
        return response_dict(saved, survey.id, str(survey.privacy), survey.timezone)

    @blp.doc(security=SECURED)
    @blp.arguments(SurveyResponseInSchema)
    @blp.response(201, SurveyResponseSchema)
    @blp.alt_response(200, schema=SurveyResponseSchema, description="Changed (or an identical retry).")
    @blp.alt_response(409, schema=None, description="survey_closed / survey_not_open")
    @blp.alt_response(422, schema=None, description="A wrong value; `fields` names the question id.")
    @auth_required
    def put(self, payload, survey_id: int):
        """Answer (201 the first time, 200 after that); editable until the close."""
        survey = _survey_or_404(survey_id)
        privacy, zone = str(survey.privacy), survey.timezone
        result = _run(
            services.submit_response, api_user(), survey, payload["answers"], payload.get("profile")
        )
        return response_dict(result.saved, survey_id, privacy, zone), 201 if result.created else 200

    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self, survey_id: int):
        """Withdraw my answer set (until the close)."""
        survey = _survey_or_404(survey_id)
        _run(services.withdraw_response, api_user(), survey)


@blp.route("/surveys/invitations/redeem")
class Redeem(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(SurveyRedeemInSchema)
    @blp.response(200, SurveySchema)
    @auth_required
    def post(self, payload):
        """Use a single-use invitation link's token: admits you to an invitation-only survey."""
        return survey_dict(_run(services.redeem_invitation, api_user(), payload["token"]))


@blp.route("/surveys/<id:survey_id>/invitations")
class Invitations(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(SurveyInvitationsInSchema)
    @blp.response(201, SurveyInvitationsSchema)
    @auth_required
    def post(self, payload, survey_id: int):
        """Create single-use signed links for a closed audience (shown once; not stored)."""
        survey = _managed_or_404(survey_id)
        tokens = _run(services.create_invitations, api_user(), survey, payload["count"], payload["label"])
        return {"links": [external_url("surveys.invitation", token=t) for t in tokens]}


# --- results ----------------------------------------------------------------------------------


@blp.route("/surveys/<id:survey_id>/results")
class Results(MethodView):
    @blp.response(200, SurveyResultsSchema)
    def get(self, survey_id: int):
        """Results with breakdowns by sector and state (403 before publication unless live
        results are on or you manage the survey)."""
        survey = _survey_or_404(survey_id)
        if not results.may_see_results(api_user(), survey):
            api_abort(403, _("Los resultados aún no se publican."), code="results_not_published")
        data = results.compute_results(survey)
        data["dictionary"] = exports.data_dictionary(survey)
        return data


# --- wiki surveys -----------------------------------------------------------------------------


def _pairwise(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    return survey, _run(wiki.pairwise_question, survey, question_id)


@blp.route("/surveys/<id:survey_id>/questions/<id:question_id>/pair")
class Pair(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, WikiPairSchema)
    @auth_required
    def get(self, survey_id: int, question_id: int):
        """A pair of ideas to compare, with a single-use token."""
        survey, question = _pairwise(survey_id, question_id)
        pair = _run(wiki.next_pair, api_user(), survey, question)
        return {
            "token": pair.token,
            "left": {"id": pair.left.id, "text": pair.left.label},
            "right": {"id": pair.right.id, "text": pair.right.label},
        }


@blp.route("/surveys/<id:survey_id>/questions/<id:question_id>/votes")
class Votes(MethodView):
    decorators = [limit_submissions]

    @blp.doc(security=SECURED)
    @blp.arguments(WikiVoteInSchema)
    @blp.response(201, WikiVoteSchema)
    @blp.alt_response(409, schema=None, description="pair_used: the token was used already.")
    @auth_required
    def post(self, payload, survey_id: int, question_id: int):
        """Vote left, right or skip ("can't decide") with a pair token."""
        survey, question = _pairwise(survey_id, question_id)
        row = _run(wiki.vote, api_user(), survey, question, payload["token"], payload["choice"])
        return {"id": row.id, "choice": str(row.choice)}


@blp.route("/surveys/<id:survey_id>/questions/<id:question_id>/ideas")
class Ideas(MethodView):
    decorators = [limit_submissions]

    @blp.doc(security=SECURED)
    @blp.arguments(WikiIdeaInSchema)
    @blp.response(201, WikiIdeaSchema)
    @auth_required
    def post(self, payload, survey_id: int, question_id: int):
        """Add an idea; it waits for the institution's moderation before entering the pool."""
        survey, question = _pairwise(survey_id, question_id)
        idea = _run(wiki.submit_idea, api_user(), survey, question, payload["text"])
        return {"id": idea.id, "text": idea.label, "status": str(idea.status)}


@blp.route("/surveys/<id:survey_id>/ideas/<id:idea_id>/moderation")
class IdeaModeration(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(SurveyModerationInSchema)
    @blp.response(200, WikiIdeaSchema)
    @auth_required
    def post(self, payload, survey_id: int, idea_id: int):
        """Approve (into the pool) or reject a citizen's idea."""
        survey = _managed_or_404(survey_id)
        idea = db.session.get(SurveyChoice, idea_id)
        if idea is None or idea.question.survey_id != survey.id:
            api_abort(404, _("No existe esa idea."))
        idea = _run(wiki.moderate_idea, api_user(), idea, payload["approve"])
        return {"id": idea.id, "text": idea.label, "status": str(idea.status)}


@blp.route("/surveys/<id:survey_id>/texts/<id:answer_id>/moderation")
class TextModeration(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(SurveyModerationInSchema)
    @blp.response(200, WikiIdeaSchema)
    @auth_required
    def post(self, payload, survey_id: int, answer_id: int):
        """Approve (shown in results) or reject a free-text answer or a proposed dataset's name."""
        survey = _managed_or_404(survey_id)
        answer = _run(moderation.moderate_text, api_user(), survey, answer_id, payload["approve"])
        return {"id": answer.id, "text": answer.text, "status": str(answer.moderation)}


# --- exports ----------------------------------------------------------------------------------


@blp.route("/surveys/<id:survey_id>/export")
class Export(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(SurveyExportArgs, location="query")
    @blp.response(200, description="The file (CSV or XLSX) when small.")
    @blp.alt_response(
        202, schema=SurveyExportSchema, description="Large: built by the worker; poll its status."
    )
    @auth_required
    def get(self, args, survey_id: int):
        """Answers as CSV or XLSX (no identities unless the survey is identified)."""
        survey = _managed_or_404(survey_id)
        outcome = _run(exports.request_export, api_user(), survey, args["format"])
        if isinstance(outcome, exports.ExportFile):
            return Response(
                outcome.content,
                mimetype=outcome.mimetype,
                headers={"Content-Disposition": f'attachment; filename="{outcome.filename}"'},
            )
        return export_dict(outcome), 202


def export_dict(export) -> dict[str, Any]:
    return {
        "id": export.id,
        "status": str(export.status),
        "progress": export.progress,
        "total": export.total,
        "download_url": external_url(
            "surveys.export_download", survey_id=export.survey_id, export_id=export.id
        )
        if str(export.status) == "ready"
        else None,
    }


@blp.route("/surveys/<id:survey_id>/exports/<id:export_id>")
class ExportStatus(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, SurveyExportSchema)
    @auth_required
    def get(self, survey_id: int, export_id: int):
        """Progress of an export built by the worker; `download_url` once ready."""
        survey = _managed_or_404(survey_id)
        export = exports.get_export(survey, export_id)
        if export is None:
            api_abort(404, _("No existe esa exportación."))
        return export_dict(export)
