"""HTML pages of demand: requests, items and their answers, comments, datasets, reports,
accountability and the admin's non-working days (thin: the services do the work)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import select

from core import audit
from core.choices import CATALOGUE_KIND_LABELS
from core.exceptions import DomainError
from core.extensions import db, limiter
from core.models import Institution
from core.permissions import can, require
from demand import answers, comments, forms, items, reports, totals
from demand.labels import INTENDED_USE_LABELS, KIND_LABELS, REASON_LABELS, SOURCE_LABELS, STATUS_LABELS
from demand.models import Dataset, DemandKind, DemandStatus, SignalSource
from demand.rendering import bar_chart, comment_html, line_chart
from demand.services import dataset_usage

bp = Blueprint("demand", __name__, template_folder="templates")

bp.add_app_template_filter(comment_html, "comment_markdown")
bp.add_app_template_global(lambda s: str(STATUS_LABELS.get(s, s or "")), "demand_status_label")
bp.add_app_template_global(answers.reason_label, "demand_reason_label")


def comment_limit_key() -> str:
    """Comments are limited per person, not per address."""
    return f"comment-author:{current_user.id if current_user.is_authenticated else request.remote_addr}"


def comment_limit() -> str:
    return current_app.config["LIMIT_COMMENTS_PER_PERSON"]


def limit_comments(view):
    """Flask-Limiter on Redis, one budget per person across every comment form and the API."""
    return limiter.shared_limit(
        comment_limit, scope="demand-comments", key_func=comment_limit_key, methods=["POST"]
    )(view)


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "reason_labels": REASON_LABELS,
        "use_labels": INTENDED_USE_LABELS,
        "source_labels": SOURCE_LABELS,
        "sources": [s.value for s in SignalSource],
    }


def show_domain_error(form, exc: DomainError) -> None:
    """Attach a service refusal to its form field, or flash it."""
    if form is not None and exc.field and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, str(exc.message)]
    else:
        flash(str(exc.message), "error")


def _item_or_404(item_id: int):
    item = items.get_item(item_id)
    if item is None:
        abort(404)
    return item


def _institution_or_404(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        abort(404)
    return institution


def _int_arg(name: str, default: int = 1) -> int:
    try:
        return max(1, min(int(request.args.get(name, default)), 100000))
    except ValueError:
        return default


def _institutions() -> list[Institution]:
    return list(db.session.execute(select(Institution).order_by(Institution.name)).scalars())


def _institution_choices() -> list[Any]:
    """Slug, name and acronym of every institution, for a filter (no whole rows)."""
    return list(
        db.session.execute(
            select(Institution.slug, Institution.name, Institution.acronym).order_by(Institution.name)
        )
    )


# --- lists, requests --------------------------------------------------------------------------------


@bp.get("/demand")
def list_items():
    """Public list of demand items with filters, most supported first."""
    institution = None
    slug = request.args.get("institution") or None
    if slug:
        institution = db.session.execute(
            select(Institution).where(Institution.slug == slug)
        ).scalar_one_or_none()
    status = (
        request.args.get("status") if request.args.get("status") in {s.value for s in DemandStatus} else None
    )
    kind = request.args.get("kind") if request.args.get("kind") in {k.value for k in DemandKind} else None
    sort = "recent" if request.args.get("sort") == "recent" else "supporters"
    page = items.list_items(
        institution_id=institution.id if institution else (-1 if slug else None),
        status=status,
        kind=kind,
        sort=sort,
        page=_int_arg("page"),
    )
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "demand/list.html",
        page=page,
        institution=institution,
        institutions=_institution_choices(),
        filters={"institution": slug or "", "status": status or "", "kind": kind or "", "sort": sort},
        args=args,
        **_labels(),
    )


@bp.get("/demand/mine")
@login_required
def mine():
    """What I asked for, support or follow."""
    return render_template("demand/mine.html", items=items.items_requested_by(current_user), **_labels())


def _dataset_choices(institution_id: int | None) -> list[tuple[str, str]]:
    choices = [("", _("Ninguno: datos que aún no están en el catálogo"))]
    if institution_id:
        rows = db.session.execute(
            select(Dataset.id, Dataset.title)
            .where(Dataset.institution_id == institution_id, Dataset.withdrawn_at.is_(None))
            .order_by(Dataset.title)
            .limit(500)
        )
        choices.extend((str(row.id), row.title) for row in rows)
    return choices


@bp.route("/demand/new", methods=["GET", "POST"])
@login_required
def new_request():
    """File a request: first the similar items and catalogue titles, then the request itself."""
    form = forms.RequestForm()
    institutions = _institutions()
    form.institution.choices = [("", _("Elige una institución"))] + [
        (i.slug, i.display_name) for i in institutions
    ]
    if request.method == "GET":
        form.institution.data = request.args.get("institution", "")
        form.kind.data = request.args.get("kind", "publish")
        if request.args.get("dataset"):
            raw = request.args["dataset"]
            dataset = db.session.get(Dataset, int(raw)) if raw.isdigit() and len(raw) < 10 else None
            if dataset is not None:
                form.institution.data = dataset.institution.slug
                form.dataset.data = str(dataset.id)
                form.title.data = dataset.title
    institution = next((i for i in institutions if i.slug == form.institution.data), None)
    form.dataset.choices = _dataset_choices(institution.id if institution else None)
    similar = []
    status = 200
    if form.validate_on_submit() and institution is not None:
        similar = items.similar_to(institution.id, form.title.data)
        if similar and form.confirm.data != "1":
            form.confirm.data = "1"
        else:
            try:
                item, created = items.file_request(
                    current_user,
                    institution,
                    kind=form.kind.data,
                    title=form.title.data,
                    description=form.description.data,
                    intended_use=form.intended_use.data,
                    dataset_id=form.dataset.data or None,
                )
            except DomainError as exc:
                db.session.rollback()
                show_domain_error(form, exc)
                status = 422
            else:
                if created:
                    flash(
                        _(
                            "Recibimos tu solicitud. La institución debe responder a más tardar el %(date)s.",
                            date=item.due_on.isoformat(),
                        ),
                        "success",
                    )
                else:
                    flash(_("Ya había una solicitud de estos datos: sumamos la tuya a ella."), "success")
                return redirect(url_for("demand.detail", item_id=item.id))
    elif request.method == "POST":
        status = 422
        if institution is None and not form.institution.errors:
            form.institution.errors = [_("Elige una institución.")]
    return render_template("demand/new.html", form=form, similar=similar, **_labels()), status


# --- an item ---------------------------------------------------------------------------------------------


@bp.get("/demand/<id:item_id>")
def detail(item_id: int):
    """An item's public page: the request, its signals, the official answer, history and comments."""
    item = _item_or_404(item_id)
    answer_form = None
    if can(current_user, "demand.answer", item) and answers.allowed_moves(item):
        answer_form = forms.AnswerForm(formdata=None)
        answer_form.set_moves(answers.allowed_moves(item))
    return render_template(
        "demand/detail.html",
        item=item,
        counts=totals.totals_of(item),
        history=items.history_of(item),
        supporting=items.supports(current_user, item),
        following=items.is_following(current_user, item),
        thread=comments.comments_on(item=item),
        comment_form=forms.CommentForm(formdata=None),
        answer_form=answer_form,
        merge_form=forms.MergeForm(formdata=None) if can(current_user, "demand.merge", item) else None,
        deadline_form=forms.DeadlineForm(formdata=None)
        if can(current_user, "demand.deadline.move", item)
        else None,
        hide_form=forms.HideForm(formdata=None),
        overdue=answers.is_overdue(item),
        merged_into=items.get_item(item.merged_into_id) if item.merged_into_id else None,
        editable=lambda c: comments.editable(c, current_user),
        can_moderate=can(current_user, "demand.moderate", item),
        **_labels(),
    )


@bp.post("/demand/<id:item_id>/support")
@login_required
def support(item_id: int):
    """Say "me too", or take it back."""
    item = _item_or_404(item_id)
    try:
        if request.form.get("action") == "withdraw":
            items.withdraw_support(current_user, item)
            flash(_("Retiraste tu apoyo."), "info")
        else:
            added, _count = items.support(current_user, item)
            flash(_("Sumaste tu apoyo.") if added else _("Ya apoyabas esta solicitud."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    return redirect(url_for("demand.detail", item_id=item_id))


@bp.post("/demand/<id:item_id>/follow")
@login_required
def follow(item_id: int):
    """Follow an item's answer, or stop."""
    item = _item_or_404(item_id)
    if request.form.get("action") == "unfollow":
        items.unfollow(current_user, item)
        flash(_("Dejaste de seguir esta solicitud."), "info")
    else:
        items.follow(current_user, item)
        flash(_("Te avisaremos de cada respuesta."), "success")
    return redirect(url_for("demand.detail", item_id=item_id))


@bp.post("/demand/<id:item_id>/answer")
@login_required
def answer(item_id: int):
    """The institution's official answer."""
    item = _item_or_404(item_id)
    require(current_user, "demand.answer", item)
    form = forms.AnswerForm()
    form.set_moves(answers.allowed_moves(item) or [item.status])
    if form.validate_on_submit():
        try:
            answers.answer(
                current_user,
                item,
                status=form.status.data,
                committed_on=form.committed_on.data,
                dataset_url=form.dataset_url.data,
                reason_code=form.reason_code.data or None,
                explanation=form.explanation.data,
                legal_basis=form.legal_basis.data,
            )
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(_("Publicamos la respuesta y avisamos a quienes la pidieron."), "success")
            return redirect(url_for("demand.detail", item_id=item_id))
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}", "error")
    return redirect(url_for("demand.detail", item_id=item_id, _anchor="answer"))


@bp.post("/demand/<id:item_id>/merge")
@login_required
def merge(item_id: int):
    """Merge a duplicate into another item."""
    item = _item_or_404(item_id)
    require(current_user, "demand.merge", item)
    form = forms.MergeForm()
    target = None
    if form.validate_on_submit():
        value = form.into.data.strip().lstrip("#")
        target = items.get_item(int(value)) if value.isdigit() and int(value) < 2**31 else None
    if target is None:
        flash(_("No encontramos esa solicitud."), "error")
        return redirect(url_for("demand.detail", item_id=item_id))
    try:
        items.merge(current_user, item, target)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("demand.detail", item_id=item_id))
    flash(_("Unimos las solicitudes."), "success")
    return redirect(url_for("demand.detail", item_id=target.id))


@bp.post("/demand/<id:item_id>/deadline")
@login_required
def move_deadline(item_id: int):
    """An admin moves the first-answer deadline."""
    item = _item_or_404(item_id)
    require(current_user, "demand.deadline.move", item)
    form = forms.DeadlineForm()
    if form.validate_on_submit():
        try:
            answers.move_deadline(current_user, item, form.due_on.data, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(_("Cambiamos la fecha límite y sus recordatorios."), "success")
    else:
        flash(_("Indica la nueva fecha y la razón."), "error")
    return redirect(url_for("demand.detail", item_id=item_id))


# --- comments -----------------------------------------------------------------------------------------------


def _thread_url(comment) -> str:
    if comment.item_id:
        return url_for("demand.detail", item_id=comment.item_id, _anchor=f"comment-{comment.id}")
    return url_for("demand.dataset", dataset_id=comment.dataset_id, _anchor=f"comment-{comment.id}")


@bp.post("/demand/<id:item_id>/comments")
@login_required
@limit_comments
def comment_item(item_id: int):
    item = _item_or_404(item_id)
    return _add_comment(forms.CommentForm(), item=item)


@bp.post("/datasets/<id:dataset_id>/comments")
@login_required
@limit_comments
def comment_dataset(dataset_id: int):
    dataset = db.session.get(Dataset, dataset_id) or abort(404)
    return _add_comment(forms.CommentForm(), dataset=dataset)


def _add_comment(form, **target):
    back = (
        url_for("demand.detail", item_id=target["item"].id)
        if "item" in target
        else url_for("demand.dataset", dataset_id=target["dataset"].id)
    )
    if not form.validate_on_submit():
        flash(_("Escribe tu comentario (hasta 5,000 caracteres)."), "error")
        return redirect(back + "#comment-form")
    try:
        comment = comments.add_comment(current_user, form.body.data, **target)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(back)
    flash(_("Publicamos tu comentario. Puedes editarlo durante 15 minutos."), "success")
    return redirect(_thread_url(comment))


@bp.route("/comments/<id:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit_comment(comment_id: int):
    comment = comments.get_comment(comment_id) or abort(404)
    if comment.author_id != current_user.id:
        abort(403)
    form = forms.CommentForm(obj=comment if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            comments.edit_comment(current_user, comment, form.body.data)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(_("Guardamos el cambio."), "success")
            return redirect(_thread_url(comment))
    return render_template(
        "demand/comment_edit.html", form=form, comment=comment, back=_thread_url(comment)
    ), (422 if form.errors else 200)


@bp.post("/comments/<id:comment_id>/flag")
@login_required
def flag_comment(comment_id: int):
    comment = comments.get_comment(comment_id) or abort(404)
    comments.flag_comment(current_user, comment, request.form.get("reason"))
    flash(_("Gracias: la institución revisará el comentario."), "info")
    return redirect(_thread_url(comment))


@bp.post("/comments/<id:comment_id>/hide")
@login_required
def hide_comment(comment_id: int):
    comment = comments.get_comment(comment_id) or abort(404)
    require(current_user, "demand.moderate", comment)
    form = forms.HideForm()
    if not form.validate_on_submit():
        flash(_("Explica por qué ocultas el comentario."), "error")
        return redirect(_thread_url(comment))
    try:
        comments.hide_comment(current_user, comment, form.reason.data)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        flash(_("Ocultamos el comentario y avisamos a su autor."), "success")
    return redirect(
        request.form.get("next") if request.form.get("next", "").startswith("/") else _thread_url(comment)
    )


@bp.get("/institutions/<slug>/demand/moderation")
@login_required
def moderation(slug: str):
    """Flagged comments of an institution, for its liaisons and staff."""
    institution = _institution_or_404(slug)
    require(current_user, "demand.moderate", institution)
    return render_template(
        "demand/moderation.html",
        institution=institution,
        flagged=comments.flagged_comments(institution.id),
        hide_form=forms.HideForm(formdata=None),
        thread_url=_thread_url,
    )


# --- datasets ----------------------------------------------------------------------------------------


@bp.get("/datasets/<id:dataset_id>")
def dataset(dataset_id: int):
    """A catalogue dataset: its description, catalogue link, demand, questions, comments and uses."""
    found = db.session.get(Dataset, dataset_id) or abort(404)
    related = items.list_items(dataset_id=found.id, per_page=100, sort="recent").items
    return render_template(
        "demand/dataset.html",
        dataset=found,
        requests=[i for i in related if i.kind == DemandKind.publish],
        questions=[i for i in related if i.kind == DemandKind.question],
        thread=comments.comments_on(dataset=found),
        comment_form=forms.CommentForm(formdata=None),
        hide_form=forms.HideForm(formdata=None),
        usage=dataset_usage(found),
        editable=lambda c: comments.editable(c, current_user),
        can_moderate=can(current_user, "demand.moderate", found),
        **_labels(),
    )


# --- reports and accountability -----------------------------------------------------------------------


def _report_tables(data: dict[str, Any]) -> dict[str, Any]:
    threshold = data.get("threshold", 5)
    charts = {}
    for dimension, table in data.get("breakdowns", {}).items():
        rows = [(reports.cell_label(dimension, key), value) for key, value in table["cells"].items()]
        rows.sort(key=lambda r: (-(r[1] if r[1] is not None else -1), r[0]))
        charts[dimension] = {"rows": rows, "total": table["total"], "threshold": threshold}
    return charts


@bp.get("/institutions/<slug>/demand/report")
@login_required
def dashboard(slug: str):
    """The institution's demand report: ranking, sources, trend, breakdowns (charts + tables)."""
    institution = _institution_or_404(slug)
    require(current_user, "demand.report", institution)
    report = reports.latest_report(institution.id)
    data = report.data if report else None
    titles = {
        "sector": _("Señales por sector"),
        "state": _("Señales por entidad"),
        "intended_use": _("Señales por uso previsto"),
    }
    charts = {}
    if data:
        tables = _report_tables(data)
        for dimension, table in tables.items():
            charts[dimension] = {
                **table,
                "svg": bar_chart(table["rows"], title=titles[dimension]),
                "title": titles[dimension],
            }
        source_rows = [
            (str(SOURCE_LABELS[SignalSource(s)]), data["signals"].get(s, 0)) for s in data["signals"]
        ]
        charts["sources"] = {
            "rows": source_rows,
            "svg": bar_chart(source_rows, title=_("Señales por origen")),
            "title": _("Señales por origen"),
        }
        charts["daily"] = line_chart(
            [(point["date"], point["signals"]) for point in data["daily"]],
            title=_("Señales por día, últimos 30 días"),
        )
    return render_template(
        "demand/dashboard.html",
        institution=institution,
        report=report,
        data=data,
        charts=charts,
        accountability=reports.accountability(institution),
        **_labels(),
    )


@bp.post("/institutions/<slug>/demand/report")
@login_required
def refresh_report(slug: str):
    institution = _institution_or_404(slug)
    require(current_user, "demand.report", institution)
    reports.compute_report(institution.id)
    flash(_("Calculamos el reporte con los datos de este momento."), "success")
    return redirect(url_for("demand.dashboard", slug=slug))


@bp.get("/institutions/<slug>/demand/report.<fmt>")
@login_required
def export_report(slug: str, fmt: str):
    """The latest snapshot as CSV or JSON."""
    institution = _institution_or_404(slug)
    require(current_user, "demand.report", institution)
    if fmt not in ("csv", "json"):
        abort(404)
    report = reports.latest_report(institution.id) or reports.compute_report(institution.id)
    filename = f"demanda-{institution.slug}-{report.computed_at:%Y%m%d%H%M}.{fmt}"
    if fmt == "csv":
        body, mimetype = reports.report_csv(report.data), "text/csv; charset=utf-8"
    else:
        body, mimetype = json.dumps(report.data, ensure_ascii=False, indent=2), "application/json"
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@bp.get("/institutions/<slug>/accountability")
def accountability(slug: str):
    """An institution's public record of answers."""
    institution = _institution_or_404(slug)
    open_page = items.list_items(institution_id=institution.id, sort="supporters", per_page=10)
    return render_template(
        "demand/accountability.html",
        institution=institution,
        figures=reports.accountability(institution),
        top=open_page.items,
        **_labels(),
    )


@bp.post("/institutions/<slug>/demand/answer-days")
@login_required
def set_answer_days(slug: str):
    """Platform admins set the institution's deadline for first answers (new requests)."""
    institution = _institution_or_404(slug)
    require(current_user, "platform.admin")
    try:
        answers.set_answer_days(current_user, institution, request.form.get("answer_days"))
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        flash(_("Guardamos el plazo: cuenta para las solicitudes nuevas."), "success")
    return redirect(url_for("demand.accountability", slug=slug))


@bp.get("/accountability")
def national():
    """Institutions compared: requests, answers, time to answer, deadlines kept, overdue."""
    return render_template("demand/national.html", rows=reports.national_comparison())


# --- admin: non-working days --------------------------------------------------------------------------


@bp.route("/admin/non-working-days", methods=["GET", "POST"])
@login_required
def non_working_days():
    """Platform admins add the extra non-working days of each year's official agreements."""
    require(current_user, "platform.admin")
    form = forms.NonWorkingDayForm()
    if form.validate_on_submit():
        try:
            moved = answers.add_non_working_day(current_user, form.day.data, form.description.data)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(
                ngettext(
                    "Agregamos el día; %(num)s fecha límite se recorrió.",
                    "Agregamos el día; %(num)s fechas límite se recorrieron.",
                    moved,
                ),
                "success",
            )
            return redirect(url_for("demand.non_working_days"))
    return render_template(
        "demand/non_working_days.html", form=form, days=answers.non_working_days()
    ), 422 if form.errors else 200


@bp.post("/admin/non-working-days/<day>/delete")
@login_required
def remove_non_working_day(day: str):
    require(current_user, "platform.admin")
    from datetime import date

    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    answers.remove_non_working_day(current_user, parsed)
    flash(_("Quitamos el día."), "info")
    return redirect(url_for("demand.non_working_days"))


# --- how demand's actions read in the audit log -------------------------------------------------

audit.describe_actions(
    {
        "demand.request": _l("pidió datos a la institución"),
        "demand.answer": _l("respondió una solicitud de datos"),
        "demand.answer_days": _l("cambió el plazo para responder solicitudes"),
        "demand.deadline.move": _l("movió la fecha límite de una solicitud"),
        "demand.overdue": _l("dejó vencer un compromiso de publicación"),
        "demand.merge": _l("unió una solicitud con otra igual"),
        "demand.comment.official": _l("comentó como respuesta oficial"),
        "demand.comment.hide": _l("ocultó un comentario"),
        "demand.non_working_day.add": _l("agregó un día inhábil"),
        "demand.non_working_day.remove": _l("quitó un día inhábil"),
        "catalogue.refresh": _l("actualizó el catálogo de datos"),
    }
)
audit.describe_values(["demand.request"], "kind", KIND_LABELS)
audit.describe_values(["demand.answer"], "from", STATUS_LABELS)
audit.describe_values(["demand.answer"], "to", STATUS_LABELS)
audit.describe_values(["demand.answer"], "reason_code", REASON_LABELS)
audit.describe_values(["catalogue.refresh"], "kind", CATALOGUE_KIND_LABELS)
audit.link_objects("demanditem", lambda object_id: url_for("demand.detail", item_id=int(object_id)))


def _comment_link(object_id: str) -> str | None:
    from demand.models import Comment

    comment = db.session.get(Comment, int(object_id))
    if comment is None:
        return None
    if comment.item_id is not None:
        return url_for("demand.detail", item_id=comment.item_id, _anchor=f"comment-{comment.id}")
    return url_for("demand.dataset", dataset_id=comment.dataset_id, _anchor=f"comment-{comment.id}")


audit.link_objects("comment", _comment_link)
audit.link_objects("dataset", lambda object_id: url_for("demand.dataset", dataset_id=int(object_id)))
audit.name_objects(
    {"demanditem": _l("solicitud"), "comment": _l("comentario"), "dataset": _l("conjunto de datos")}
)
