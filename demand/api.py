"""JSON API of demand: requests, support, follow, official answers, merges, comments,
reports and accountability (thin: the services do the work)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.api_messages import generic_message
from core.celery_app import publish
from core.exceptions import DomainError
from core.extensions import db, limiter
from core.models import Institution
from core.permissions import can
from core.urls import external_url
from core.validation import SingleLineText
from demand import answers, comments, items, reports, totals
from demand.models import (
    Comment,
    Dataset,
    DemandHistory,
    DemandItem,
    DemandKind,
    DemandStatus,
    IntendedUse,
    ReasonCode,
)

blp = ApiBlueprint(
    "demand_api",
    __name__,
    description="Demand for data: requests and questions to institutions, support, official answers "
    "within a deadline of Mexican working days, comments, demand reports and accountability.",
)
SECURED = [{"bearerAuth": []}]
MAX_PAGE = 100000


def _comment_key() -> str:
    try:
        user = api_user()
    except Exception:  # noqa: BLE001 - a bad token is answered 401 by the view itself
        user = None
    return f"comment-author:{user.id}" if user is not None else f"comment-ip:{request.remote_addr}"


def _limit_comments(view):
    return limiter.shared_limit(
        lambda: current_app.config["LIMIT_COMMENTS_PER_PERSON"],
        scope="demand-comments",
        key_func=_comment_key,
        methods=["POST"],
    )(view)


# --- schemas ----------------------------------------------------------------------------------------


class DemandRequestInSchema(ma.Schema):
    institution = ma.fields.String(
        required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=64)]
    )
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in DemandKind]))
    title = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=300)])
    description = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=5000))
    intended_use = ma.fields.String(required=True, validate=ma.validate.OneOf([u.value for u in IntendedUse]))
    dataset = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "A catalogue dataset id (required for a question)."},
    )


class DemandSimilarSchema(ma.Schema):
    type = ma.fields.String(metadata={"description": "item or dataset"})
    id = ma.fields.Integer()
    title = ma.fields.String()
    score = ma.fields.Integer()
    supporters = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(allow_none=True)


class DemandAnswerSummarySchema(ma.Schema):
    committed_on = ma.fields.String(allow_none=True)
    dataset_url = ma.fields.String(allow_none=True)
    reason_code = ma.fields.String(allow_none=True)
    explanation = ma.fields.String(allow_none=True)
    legal_basis = ma.fields.String(allow_none=True)
    answered_at = ma.fields.String(allow_none=True)
    answered_on_time = ma.fields.Boolean(allow_none=True)
    url_check = ma.fields.String(allow_none=True)


class DemandHistorySchema(ma.Schema):
    at = ma.fields.String()
    action = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    committed_on = ma.fields.String(allow_none=True)
    due_on = ma.fields.String(allow_none=True)
    dataset_url = ma.fields.String(allow_none=True)
    reason_code = ma.fields.String(allow_none=True)
    explanation = ma.fields.String(allow_none=True)
    legal_basis = ma.fields.String(allow_none=True)
    other_item = ma.fields.Integer(allow_none=True)
    by = ma.fields.String(allow_none=True)


class DemandItemSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    institution = ma.fields.String()
    dataset = ma.fields.Integer(allow_none=True)
    kind = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    due_on = ma.fields.String()
    overdue = ma.fields.Boolean()
    supporters = ma.fields.Integer()
    merged_into = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.String()
    answer = ma.fields.Nested(DemandAnswerSummarySchema, allow_none=True)
    signals = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    history = ma.fields.List(ma.fields.Nested(DemandHistorySchema))
    similar = ma.fields.List(ma.fields.Nested(DemandSimilarSchema))


class DemandItemListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(DemandItemSchema))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    has_more = ma.fields.Boolean()


class DemandListArgs(ma.Schema):
    institution = ma.fields.String(validate=ma.validate.Length(max=64))
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in DemandStatus]))
    kind = ma.fields.String(validate=ma.validate.OneOf([k.value for k in DemandKind]))
    sort = ma.fields.String(load_default="supporters", validate=ma.validate.OneOf(["supporters", "recent"]))
    per_page = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=100),
        metadata={"description": "The former name of `page_size`, still read when `page_size` is absent."},
    )


class DemandSupportSchema(ma.Schema):
    supporting = ma.fields.Boolean()
    supporters = ma.fields.Integer()


class DemandFollowSchema(ma.Schema):
    following = ma.fields.Boolean()


class DemandAnswerInSchema(ma.Schema):
    status = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=32)])
    committed_on = ma.fields.Date(load_default=None, allow_none=True)
    dataset_url = ma.fields.String(
        load_default=None, allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=1000)]
    )
    reason_code = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.OneOf([r.value for r in ReasonCode])
    )
    explanation = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=5000))
    legal_basis = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))


class DemandMergeInSchema(ma.Schema):
    into = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=2**31 - 1))


class DemandCommentInSchema(ma.Schema):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))


class DemandFlagInSchema(ma.Schema):
    reason = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=300))


class DemandHideInSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class DemandCommentSchema(ma.Schema):
    id = ma.fields.Integer()
    author = ma.fields.String(allow_none=True)
    official = ma.fields.Boolean()
    body = ma.fields.String(allow_none=True, metadata={"description": "null when hidden"})
    hidden = ma.fields.Boolean()
    hidden_reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.String()
    edited_at = ma.fields.String(allow_none=True)
    flags = ma.fields.Integer()


class DemandReportSchema(ma.Schema):
    computed_at = ma.fields.String()
    threshold = ma.fields.Integer()
    supporters = ma.fields.Integer()
    total = ma.fields.Integer()
    signals = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    trend = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    daily = ma.fields.List(ma.fields.Dict())
    items = ma.fields.List(ma.fields.Dict())
    breakdowns = ma.fields.Dict()


class DemandAccountabilitySchema(ma.Schema):
    institution = ma.fields.String()
    received = ma.fields.Integer()
    answered = ma.fields.Integer()
    response_rate = ma.fields.Float(allow_none=True)
    median_working_days_to_answer = ma.fields.Float(allow_none=True)
    within_deadline_rate = ma.fields.Float(allow_none=True)
    overdue = ma.fields.Integer()


class DemandQueuedSchema(ma.Schema):
    status = ma.fields.String()


# --- serialisation ----------------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _history_dict(entry: DemandHistory) -> dict[str, Any]:
    return {
        "at": _iso(entry.created_at),
        "action": entry.action,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "committed_on": _iso(entry.committed_on),
        "due_on": _iso(entry.due_on),
        "dataset_url": entry.dataset_url,
        "reason_code": entry.reason_code,
        "explanation": entry.explanation,
        "legal_basis": entry.legal_basis,
        "other_item": entry.other_item_id,
        "by": entry.actor.name if entry.actor is not None and entry.actor.deleted_at is None else None,
    }


def item_dict(
    item: DemandItem, *, counts: dict[str, int] | None = None, detail: bool = True
) -> dict[str, Any]:
    """An item as the API shows it."""
    record = item.answer
    data: dict[str, Any] = {
        "id": item.id,
        "url": external_url("demand.detail", item_id=item.id),
        "institution": item.institution.slug,
        "dataset": item.dataset_id,
        "kind": str(item.kind),
        "title": item.title,
        "description": item.description,
        "status": str(item.status),
        "due_on": item.due_on.isoformat(),
        "overdue": answers.is_overdue(item),
        "supporters": item.supporters_count,
        "merged_into": item.merged_into_id,
        "created_at": _iso(item.created_at),
        "answer": None
        if record is None
        else {
            "committed_on": _iso(record.committed_on),
            "dataset_url": record.dataset_url,
            "reason_code": record.reason_code,
            "explanation": record.explanation,
            "legal_basis": record.legal_basis,
            "answered_at": _iso(record.answered_at),
            "answered_on_time": record.answered_on_time,
            "url_check": record.url_check,
        },
    }
    if counts is not None:
        data["signals"] = counts
    if detail:
        data["signals"] = totals.totals_of(item)
        data["history"] = [_history_dict(entry) for entry in items.history_of(item)]
    return data


def comment_dict(comment: Comment) -> dict[str, Any]:
    hidden = comment.hidden_at is not None
    author = comment.author
    return {
        "id": comment.id,
        "author": author.name if author is not None and author.deleted_at is None else None,
        "official": comment.official,
        "body": None if hidden else comment.body,
        "hidden": hidden,
        "hidden_reason": comment.hidden_reason if hidden else None,
        "created_at": _iso(comment.created_at),
        "edited_at": _iso(comment.edited_at),
        "flags": comment.flags_count,
    }


# --- helpers ---------------------------------------------------------------------------------------------


def _run(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except DomainError as exc:
        db.session.rollback()
        fields = {exc.field: [str(exc.message)]} if exc.field else None
        api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)


def _item_or_404(item_id: int) -> DemandItem:
    item = items.get_item(item_id)
    if item is None:
        api_abort(404, _("No existe esa solicitud o pregunta."))
    return item


def _dataset_or_404(dataset_id: int) -> Dataset:
    dataset = db.session.get(Dataset, dataset_id)
    if dataset is None:
        api_abort(404, _("No existe ese conjunto de datos."))
    return dataset


def _institution_or_404(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        api_abort(404, _("No existe esa institución."))
    return institution


# --- requests and items ----------------------------------------------------------------------------------


@blp.route("/demand")
class Demand(MethodView):
    @blp.arguments(DemandListArgs, location="query")
    @blp.response(200, DemandItemListSchema)
    @blp.paginate(page_size=items.PAGE_SIZE, max_page_size=100)
    def get(self, args, pagination_parameters):
        """Demand items, most supported (`sort=supporters`) or newest (`sort=recent`) first
        (`X-Pagination` header has the totals).

        Paginated as the other lists (`page`, `page_size`); the body keeps `page`, `per_page`
        and `has_more`. The total is counted up to 10 pages past the one asked for; beyond
        that `X-Pagination` says `"total_exact": false` and `total` is a lower bound."""
        try:  # the bound `page` always had here (an offset of millions of rows is refused)
            ma.validate.Range(min=1, max=MAX_PAGE)(pagination_parameters.page)
        except ma.ValidationError as exc:
            api_abort(422, generic_message(422), fields={"page": exc.messages})
        if "page_size" not in request.args and args.get("per_page"):
            pagination_parameters.page_size = args["per_page"]  # a client of the former name
        institution_id = None
        if args.get("institution"):
            institution = db.session.execute(
                select(Institution).where(Institution.slug == args["institution"])
            ).scalar_one_or_none()
            if institution is None:
                api_abort(
                    422,
                    _("Institución desconocida."),
                    fields={"institution": [_("Institución desconocida.")]},
                )
            institution_id = institution.id
        page = items.list_items(
            institution_id=institution_id,
            status=args.get("status"),
            kind=args.get("kind"),
            sort=args["sort"],
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
            count=True,
        )
        pagination_parameters.item_count = page.total
        pagination_parameters.total_exact = page.total_exact
        return {
            "items": [item_dict(item, counts=totals.totals_of(item), detail=False) for item in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "has_more": page.has_more,
        }

    @blp.doc(security=SECURED)
    @blp.arguments(DemandRequestInSchema)
    @blp.response(201, DemandItemSchema)
    @auth_required
    def post(self, payload):
        """File a request (verified people): the item with its due date and similar items."""
        institution = db.session.execute(
            select(Institution).where(Institution.slug == payload["institution"])
        ).scalar_one_or_none()
        if institution is None:
            api_abort(
                422, _("Institución desconocida."), fields={"institution": [_("Institución desconocida.")]}
            )
        item, _created = _run(
            items.file_request,
            api_user(),
            institution,
            kind=payload["kind"],
            title=payload["title"],
            description=payload.get("description"),
            intended_use=payload["intended_use"],
            dataset_id=payload.get("dataset"),
        )
        item = items.get_item(item.id)
        data = item_dict(item)
        data["similar"] = [
            s.as_dict() for s in items.similar_to(item.institution_id, item.title, exclude_item=item.id)
        ]
        return data


@blp.route("/demand/<id:item_id>")
class DemandItemView(MethodView):
    @blp.response(200, DemandItemSchema)
    def get(self, item_id: int):
        """One item with its public `history` and `signals` by source."""
        return item_dict(_item_or_404(item_id))


@blp.route("/demand/<id:item_id>/support")
class Support(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(201, DemandSupportSchema)
    @blp.alt_response(200, schema=DemandSupportSchema, description="Already supporting: nothing changed.")
    @auth_required
    def post(self, item_id: int):
        """Say "me too" (verified people; once per person)."""
        item = _item_or_404(item_id)
        added, count = _run(items.support, api_user(), item)
        return {"supporting": True, "supporters": count}, (201 if added else 200)

    @blp.doc(security=SECURED)
    @blp.response(200, DemandSupportSchema)
    @auth_required
    def delete(self, item_id: int):
        """Withdraw one's support."""
        item = _item_or_404(item_id)
        _removed, count = _run(items.withdraw_support, api_user(), item)
        return {"supporting": False, "supporters": count}


@blp.route("/demand/<id:item_id>/follow")
class Follow(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(201, DemandFollowSchema)
    @blp.alt_response(200, schema=DemandFollowSchema, description="Already following.")
    @auth_required
    def post(self, item_id: int):
        """Follow an item: every change of its answer reaches you (category `answers`)."""
        added = items.follow(api_user(), _item_or_404(item_id))
        return {"following": True}, (201 if added else 200)

    @blp.doc(security=SECURED)
    @blp.response(200, DemandFollowSchema)
    @auth_required
    def delete(self, item_id: int):
        """Stop following."""
        items.unfollow(api_user(), _item_or_404(item_id))
        return {"following": False}


@blp.route("/demand/<id:item_id>/answer")
class Answer(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(DemandAnswerInSchema)
    @blp.response(200, DemandItemSchema)
    @blp.alt_response(409, schema=None, description="`illegal_transition`.")
    @auth_required
    def post(self, payload, item_id: int):
        """The official answer (the institution's liaisons and staff)."""
        item = _item_or_404(item_id)
        if not can(api_user(), "demand.answer", item):
            api_abort(403, _("Solo los enlaces y el personal de la institución pueden responder."))
        _run(answers.answer, api_user(), item, **payload)
        return item_dict(items.get_item(item_id))


@blp.route("/demand/<id:item_id>/merge")
class Merge(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(DemandMergeInSchema)
    @blp.response(200, DemandItemSchema)
    @auth_required
    def post(self, payload, item_id: int):
        """Merge this duplicate into `into` (the institution's liaisons): the merged-into item."""
        item = _item_or_404(item_id)
        if not can(api_user(), "demand.merge", item):
            api_abort(
                403, _("Solo los enlaces de la institución pueden fusionar sus solicitudes y preguntas.")
            )
        target = items.get_item(payload["into"])
        if target is None:
            api_abort(
                422,
                _("No existe la solicitud o pregunta con la que se fusionaría."),
                fields={"into": [_("Solicitud o pregunta desconocida.")]},
            )
        merged = _run(items.merge, api_user(), item, target)
        return item_dict(items.get_item(merged.id))


# --- comments --------------------------------------------------------------------------------------------


def _thread(**target):
    return [comment_dict(c) for c in comments.comments_on(**target)]


@blp.route("/demand/<id:item_id>/comments")
class ItemComments(MethodView):
    decorators = [_limit_comments]

    @blp.response(200, DemandCommentSchema(many=True))
    def get(self, item_id: int):
        """The item's comments, oldest first (hidden ones without their body)."""
        return _thread(item=_item_or_404(item_id))

    @blp.doc(security=SECURED)
    @blp.arguments(DemandCommentInSchema)
    @blp.response(201, DemandCommentSchema)
    @auth_required
    def post(self, payload, item_id: int):
        """Comment (Markdown subset, 5,000 characters; rate-limited per person)."""
        comment = _run(comments.add_comment, api_user(), payload["body"], item=_item_or_404(item_id))
        return comment_dict(comment)


@blp.route("/datasets/<id:dataset_id>/comments")
class DatasetComments(MethodView):
    decorators = [_limit_comments]

    @blp.response(200, DemandCommentSchema(many=True))
    def get(self, dataset_id: int):
        """The dataset's comments, oldest first (hidden ones without their body)."""
        return _thread(dataset=_dataset_or_404(dataset_id))

    @blp.doc(security=SECURED)
    @blp.arguments(DemandCommentInSchema)
    @blp.response(201, DemandCommentSchema)
    @auth_required
    def post(self, payload, dataset_id: int):
        """Comment on a catalogue dataset."""
        comment = _run(comments.add_comment, api_user(), payload["body"], dataset=_dataset_or_404(dataset_id))
        return comment_dict(comment)


def _comment_or_404(comment_id: int) -> Comment:
    comment = comments.get_comment(comment_id)
    if comment is None:
        api_abort(404, _("No existe ese comentario."))
    return comment


@blp.route("/comments/<id:comment_id>")
class CommentView(MethodView):
    @blp.response(200, DemandCommentSchema)
    def get(self, comment_id: int):
        return comment_dict(_comment_or_404(comment_id))

    @blp.doc(security=SECURED)
    @blp.arguments(DemandCommentInSchema)
    @blp.response(200, DemandCommentSchema)
    @auth_required
    def patch(self, payload, comment_id: int):
        """Edit one's own comment within 15 minutes."""
        comment = _run(comments.edit_comment, api_user(), _comment_or_404(comment_id), payload["body"])
        return comment_dict(comment)


@blp.route("/comments/<id:comment_id>/flag")
class FlagComment(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(DemandFlagInSchema, required=False)
    @blp.response(201, DemandCommentSchema)
    @blp.alt_response(200, schema=DemandCommentSchema, description="Already flagged by you.")
    @auth_required
    def post(self, payload, comment_id: int):
        """Flag a comment for the institution's moderators (once per person)."""
        comment = _comment_or_404(comment_id)
        added = comments.flag_comment(api_user(), comment, (payload or {}).get("reason"))
        return comment_dict(comments.get_comment(comment_id)), (201 if added else 200)


@blp.route("/comments/<id:comment_id>/hide")
class HideComment(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(DemandHideInSchema)
    @blp.response(200, DemandCommentSchema)
    @auth_required
    def post(self, payload, comment_id: int):
        """Hide a comment with a reason (the institution's liaisons and staff); the author is told."""
        comment = _comment_or_404(comment_id)
        if not can(api_user(), "demand.moderate", comment):
            api_abort(
                403, _("Solo los enlaces y el personal de la institución pueden ocultar sus comentarios.")
            )
        return comment_dict(_run(comments.hide_comment, api_user(), comment, payload["reason"]))


# --- reports and accountability ----------------------------------------------------------------------------


@blp.route("/institutions/<slug>/demand-report")
class DemandReportView(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, DemandReportSchema)
    @auth_required
    def get(self, slug: str):
        """The latest stored snapshot (the institution's liaisons and staff)."""
        institution = _institution_or_404(slug)
        if not can(api_user(), "demand.report", institution):
            api_abort(
                403, _("Solo los enlaces y el personal de la institución pueden ver su informe de demanda.")
            )
        report = reports.latest_report(institution.id)
        if report is None:
            api_abort(
                404, _("Aún no hay un informe calculado: haz POST para calcular uno."), code="no_report"
            )
        return report.data

    @blp.doc(security=SECURED)
    @blp.response(202, DemandQueuedSchema)
    @auth_required
    def post(self, slug: str):
        """Recompute the report now (in the worker)."""
        institution = _institution_or_404(slug)
        if not can(api_user(), "demand.report", institution):
            refused = _(
                "Solo los enlaces y el personal de la institución pueden actualizar su informe de demanda."
            )
            api_abort(403, refused)
        try:
            publish("demand.compute_report", [institution.id])
        except Exception:  # noqa: BLE001 - no broker: compute here rather than fail
            reports.compute_report(institution.id)
        return {"status": "queued"}


@blp.route("/institutions/<slug>/accountability")
class Accountability(MethodView):
    @blp.response(200, DemandAccountabilitySchema)
    def get(self, slug: str):
        """Requests received, share answered, median working days to the first answer, share
        answered within the deadline, overdue now."""
        institution = _institution_or_404(slug)
        return {"institution": institution.slug, **reports.accountability(institution)}


@blp.route("/accountability")
class National(MethodView):
    @blp.response(200, DemandAccountabilitySchema(many=True))
    def get(self):
        """Every institution's accountability figures, most requests received first."""
        return [{"institution": inst.slug, **figures} for inst, figures in reports.national_comparison()]
