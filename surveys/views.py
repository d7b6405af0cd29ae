"""HTML pages of surveys: the list, answering (accessible, no JavaScript needed), my
answers, the builder, results with SVG charts and tables, wiki-survey voting, moderation,
invitations and exports (thin: services do the work)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from core import audit
from core.choices import MEXICAN_STATES, SECTOR_LABELS
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.permissions import can, require
from core.timeutil import to_zone, utcnow
from demand.models import Dataset
from surveys import forms, services
from surveys.limits import limit_submissions
from surveys.models import Privacy, QuestionKind, Survey, SurveyChoice, SurveyStatus
from surveys.services import exports, moderation, results, wiki
from surveys.services.common import INTENDED_USE_LABELS
from surveys.services.results import group_label

bp = Blueprint("surveys", __name__, template_folder="templates")


def _labels() -> dict[str, Any]:
    return {
        "status_labels": services.STATUS_LABELS,
        "privacy_labels": services.PRIVACY_LABELS,
        "privacy_explanations": services.PRIVACY_EXPLANATIONS,
        "kind_labels": services.KIND_LABELS,
        "use_labels": INTENDED_USE_LABELS,
        "sector_labels": SECTOR_LABELS,
        "states": MEXICAN_STATES,
        "group_label": group_label,
    }


def _survey_or_404(survey_id: int) -> Survey:
    survey = services.get_survey(survey_id)
    if survey is None or (
        survey.status == SurveyStatus.draft and not can(current_user, "surveys.manage", survey)
    ):
        abort(404)
    return survey


def _managed(survey_id: int) -> Survey:
    survey = services.get_survey(survey_id)
    if survey is None:
        abort(404)
    require(current_user, "surveys.manage", survey)
    return survey


def _flash_error(exc: DomainError) -> None:
    flash(str(exc.message), "error")


def _catalogue(survey: Survey) -> list[Dataset]:
    if not any(q.kind == QuestionKind.dataset_demand for q in survey.questions):
        return []
    return list(
        db.session.execute(
            select(Dataset)
            .where(Dataset.institution_id == survey.institution_id, Dataset.withdrawn_at.is_(None))
            .order_by(Dataset.title)
        ).scalars()
    )


# --- public pages ------------------------------------------------------------------------------


@bp.route("/surveys")
def list_surveys():
    open_now = services.open_surveys()
    published = services.list_surveys(status=SurveyStatus.published.value, per_page=50).items
    return render_template("surveys/list.html", open_now=open_now, published=published, **_labels())


@bp.route("/surveys/mine")
@login_required
def mine():
    return render_template("surveys/mine.html", entries=services.my_surveys(current_user), **_labels())


def answers_from_form(survey: Survey, form) -> dict[str, Any]:
    """The answering form's fields turned into the API's answer values."""
    answers: dict[str, Any] = {}
    for question in survey.questions:
        name = f"q{question.id}"
        kind = question.kind
        if kind in (QuestionKind.single_choice, QuestionKind.rating):
            value = form.get(name, "").strip()
            answers[str(question.id)] = int(value) if value.lstrip("-").isdigit() else (value or None)
        elif kind == QuestionKind.multiple_choice:
            answers[str(question.id)] = [int(v) for v in form.getlist(name) if v.isdigit()]
        elif kind == QuestionKind.ranking:
            ranked = []
            for choice in question.approved_choices:
                position = form.get(f"{name}_c{choice.id}", "").strip()
                if position.isdigit():
                    ranked.append((int(position), choice.id))
            positions = [p for p, _c in ranked]
            if len(set(positions)) != len(positions):
                raise DomainError(_("Usa cada lugar una sola vez."), status=422, field=str(question.id))
            answers[str(question.id)] = [c for _p, c in sorted(ranked)]
        elif kind == QuestionKind.number:
            value = form.get(name, "").strip()
            answers[str(question.id)] = value or None
        elif kind in (QuestionKind.short_text, QuestionKind.long_text):
            answers[str(question.id)] = form.get(name, "")
        elif kind == QuestionKind.dataset_demand:
            datasets = [int(v) for v in form.getlist(f"{name}_datasets") if v.isdigit()]
            title = form.get(f"{name}_new_title", "").strip()
            new = [{"title": title, "description": form.get(f"{name}_new_description", "")}] if title else []
            answers[str(question.id)] = {
                "datasets": datasets,
                "new": new,
                "intended_use": form.get(f"{name}_use") or None,
            }
    return answers


def _answer_page(survey: Survey, *, values=None, errors=None, preview=False, status=200):
    response = services.response_of(current_user, survey) if not preview else None
    if values is None and response is not None:
        values = response.answers
    profile = {
        "sector": (response.sector if response else None) or getattr(current_user, "sector", None),
        "state": (response.state if response else None) or getattr(current_user, "state", None),
    }
    if request.method == "POST" and not preview:
        profile = {"sector": request.form.get("sector") or None, "state": request.form.get("state") or None}
    return (
        render_template(
            "surveys/answer.html",
            survey=survey,
            response=response,
            values=values or {},
            errors=errors or {},
            preview=preview,
            accepting=services.accepting_answers(survey),
            has_access=services.has_access(current_user, survey),
            catalogue=_catalogue(survey),
            profile=profile,
            can_results=results.may_see_results(current_user, survey),
            manages=can(current_user, "surveys.manage", survey),
            **_labels(),
        ),
        status,
    )


@bp.route("/surveys/<id:survey_id>", methods=["GET", "POST"])
@limit_submissions
def answer(survey_id: int):
    survey = _survey_or_404(survey_id)
    if request.method == "GET":
        if current_user.is_authenticated:
            services.record_start(current_user, survey)
        return _answer_page(survey)
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.path))
    values: dict[str, Any] = {}
    profile = {"sector": request.form.get("sector") or None, "state": request.form.get("state") or None}
    try:
        values = answers_from_form(survey, request.form)
        result = services.submit_response(current_user, survey, values, profile)
    except DomainError as exc:
        db.session.rollback()
        if exc.field and exc.field.isdigit():
            return _answer_page(survey, values=values, errors={exc.field: str(exc.message)}, status=422)
        _flash_error(exc)
        return _answer_page(survey, values=values, status=exc.status)
    if result.created:
        flash(_("¡Gracias! Guardamos tus respuestas. Puedes cambiarlas hasta el cierre."), "success")
    elif result.changed:
        flash(_("Actualizamos tus respuestas."), "success")
    else:
        flash(_("Tus respuestas ya estaban guardadas así."), "info")
    return redirect(url_for("surveys.answer", survey_id=survey.id) + "#my-answers")


@bp.route("/surveys/<id:survey_id>/withdraw", methods=["POST"])
@login_required
@limit_submissions
def withdraw(survey_id: int):
    survey = _survey_or_404(survey_id)
    try:
        services.withdraw_response(current_user, survey)
        flash(_("Borramos tus respuestas a esta encuesta."), "success")
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return redirect(url_for("surveys.answer", survey_id=survey.id))


@bp.route("/surveys/invitation/<token>")
@login_required
def invitation(token: str):
    try:
        survey = services.redeem_invitation(current_user, token)
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
        return redirect(url_for("surveys.list_surveys"))
    flash(_("Invitación aceptada: ya puedes responder."), "success")
    return redirect(url_for("surveys.answer", survey_id=survey.id))


@bp.route("/surveys/<id:survey_id>/results", endpoint="results")
def results_page(survey_id: int):
    survey = _survey_or_404(survey_id)
    if not results.may_see_results(current_user, survey):
        abort(403)
    data = results.compute_results(survey)
    questions = {q.id: q for q in survey.questions}
    return render_template("surveys/results.html", survey=survey, data=data, questions=questions, **_labels())


@bp.route("/surveys/<id:survey_id>/results.json")
def results_json(survey_id: int):
    survey = _survey_or_404(survey_id)
    if not results.may_see_results(current_user, survey):
        abort(403)
    import json

    body = {"results": results.compute_results(survey), "dictionary": exports.data_dictionary(survey)}
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="encuesta-{survey.id}-resultados.json"'},
    )


# --- wiki survey ------------------------------------------------------------------------------


@bp.route("/surveys/<id:survey_id>/questions/<id:question_id>/compare", methods=["GET", "POST"])
@login_required
@limit_submissions
def compare(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    try:
        question = wiki.pairwise_question(survey, question_id)
    except DomainError:
        abort(404)
    if request.method == "POST":
        try:
            wiki.vote(current_user, survey, question, request.form.get("token"), request.form.get("choice"))
            flash(_("Voto registrado. Aquí va otro par."), "success")
        except DomainError as exc:
            db.session.rollback()
            _flash_error(exc)
        return redirect(url_for("surveys.compare", survey_id=survey.id, question_id=question.id))
    pair = None
    try:
        pair = wiki.next_pair(current_user, survey, question)
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return render_template(
        "surveys/compare.html",
        survey=survey,
        question=question,
        pair=pair,
        form=forms.IdeaForm(),
        **_labels(),
    )


@bp.route("/surveys/<id:survey_id>/questions/<id:question_id>/ideas", methods=["POST"])
@login_required
@limit_submissions
def add_idea(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    try:
        question = wiki.pairwise_question(survey, question_id)
        wiki.submit_idea(current_user, survey, question, request.form.get("text", ""))
        flash(_("Gracias: tu idea entrará a la comparación cuando la institución la revise."), "success")
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return redirect(url_for("surveys.compare", survey_id=survey.id, question_id=question_id))


# --- managing ---------------------------------------------------------------------------------


@bp.route("/surveys/manage")
@login_required
def manage():
    institutions = services.managed_institution_ids(current_user)
    if not institutions:
        abort(403)
    page = services.list_surveys(viewer=current_user, managed_only=True, per_page=100)
    managed = db.session.execute(select(Institution).where(Institution.id.in_(institutions))).scalars().all()
    return render_template("surveys/manage.html", page=page, institutions=managed, **_labels())


def _settings_data(form: forms.SurveyForm) -> dict[str, Any]:
    zone = form.timezone.data or "America/Mexico_City"
    from zoneinfo import ZoneInfo

    def aware(value):
        return value.replace(tzinfo=ZoneInfo(zone)) if value else None

    return {
        "title": form.title.data,
        "description": form.description.data or "",
        "privacy": form.privacy.data,
        "opens_at": aware(form.opens_at.data),
        "closes_at": aware(form.closes_at.data),
        "timezone": zone,
        "live_results": form.live_results.data,
        "invitation_only": form.invitation_only.data,
        "suppression_threshold": form.suppression_threshold.data or 5,
    }


def _attach(form, exc: DomainError) -> None:
    if exc.field and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, str(exc.message)]
    else:
        _flash_error(exc)


@bp.route("/surveys/new", methods=["GET", "POST"])
@login_required
def new():
    slug = request.values.get("institution", "")
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        ids = services.managed_institution_ids(current_user)
        if len(ids) == 1 or (ids and not slug):
            institution = db.session.get(Institution, ids[0])
    if institution is None:
        abort(404)
    require(current_user, "surveys.manage", institution)
    form = forms.SurveyForm()
    if request.method == "GET":
        form.timezone.data = institution.timezone
        form.privacy.data = Privacy.pseudonymous.value
    if form.validate_on_submit():
        try:
            survey = services.create_survey(current_user, institution, _settings_data(form))
            flash(_("Encuesta creada. Ahora agrega las preguntas."), "success")
            return redirect(url_for("surveys.edit", survey_id=survey.id))
        except DomainError as exc:
            db.session.rollback()
            _attach(form, exc)
    return render_template("surveys/form.html", form=form, institution=institution, survey=None, **_labels())


@bp.route("/surveys/<id:survey_id>/edit", methods=["GET", "POST"])
@login_required
def edit(survey_id: int):
    survey = _managed(survey_id)
    form = forms.SurveyForm(obj=survey if request.method == "GET" else None)
    if request.method == "GET":
        form.opens_at.data = (
            to_zone(survey.opens_at, survey.timezone).replace(tzinfo=None) if survey.opens_at else None
        )
        form.closes_at.data = to_zone(survey.closes_at, survey.timezone).replace(tzinfo=None)
        form.privacy.data = str(survey.privacy)
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_survey(current_user, survey, _settings_data(form))
            flash(_("Guardamos la configuración."), "success")
            return redirect(url_for("surveys.edit", survey_id=survey.id))
        except DomainError as exc:
            db.session.rollback()
            _attach(form, exc)
            survey = _managed(survey_id)
    question_form = _question_form(survey)
    return render_template(
        "surveys/edit.html",
        survey=survey,
        form=form,
        question_form=question_form,
        section_form=forms.SectionForm(prefix="section"),
        locked=services.has_answers(survey),
        respondents=services.respondent_count(survey),
        invitations=services.invitation_counts(survey),
        pending_ideas=len(wiki.pending_ideas(survey)),
        pending_texts=len(moderation.pending_texts(survey)),
        exports_list=exports.latest_exports(survey),
        **_labels(),
    )


def _question_form(survey: Survey, question=None, formdata=None) -> forms.QuestionForm:
    form = forms.QuestionForm(formdata=formdata, prefix="q")
    form.section_id.choices = [("", _("Sin sección"))] + [(str(s.id), s.title) for s in survey.sections]
    earlier = [q for q in survey.questions if question is None or q.position < question.position]
    form.show_if_question.choices = [("", _("Siempre mostrar"))] + [
        (str(q.id), f"{i}. {q.prompt}")
        for i, q in enumerate(earlier, start=1)
        if q.kind
        in (
            QuestionKind.single_choice,
            QuestionKind.multiple_choice,
            QuestionKind.rating,
            QuestionKind.number,
        )
    ]
    if question is not None and formdata is None:
        form.kind.data = str(question.kind)
        form.prompt.data = question.prompt
        form.help_text.data = question.help_text
        form.required.data = question.required
        form.choices.data = "\n".join(c.label for c in question.approved_choices)
        form.min_value.data, form.max_value.data = question.min_value, question.max_value
        form.scale_min.data, form.scale_max.data = question.scale_min, question.scale_max
        form.scale_min_label.data, form.scale_max_label.data = (
            question.scale_min_label,
            question.scale_max_label,
        )
        form.section_id.data = str(question.section_id or "")
        condition = question.show_if or {}
        form.show_if_question.data = str(condition.get("question") or "")
        target = survey.question(condition.get("question")) if condition else None
        if target is not None and "choices" in condition:
            form.show_if_choices.data = " | ".join(
                c.label for c in target.choices if c.id in condition["choices"]
            )
        elif target is not None:
            low, high = condition.get("min"), condition.get("max")
            form.show_if_choices.data = (
                f"{'' if low is None else _num(low)}-{'' if high is None else _num(high)}"
            )
    return form


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _question_data(survey: Survey, form: forms.QuestionForm) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": form.kind.data,
        "prompt": form.prompt.data,
        "help_text": form.help_text.data or "",
        "required": form.required.data,
        "choices": form.choices.data or "",
        "min": form.min_value.data,
        "max": form.max_value.data,
        "scale_min": form.scale_min.data,
        "scale_max": form.scale_max.data,
        "scale_min_label": form.scale_min_label.data,
        "scale_max_label": form.scale_max_label.data,
        "section_id": form.section_id.data or None,
    }
    target_id = form.show_if_question.data
    raw = (form.show_if_choices.data or "").strip()
    if target_id and target_id.isdigit():
        target = survey.question(int(target_id))
        if target is not None and target.kind in (QuestionKind.rating, QuestionKind.number):
            low, _sep, high = raw.partition("-")
            data["show_if"] = {"question": target.id, "min": low.strip() or None, "max": high.strip() or None}
        elif target is not None:
            data["show_if"] = {
                "question": target.id,
                "choices": [p.strip() for p in raw.split("|") if p.strip()],
            }
    else:
        data["show_if"] = None
    return data


@bp.route("/surveys/<id:survey_id>/questions", methods=["POST"])
@login_required
def add_question(survey_id: int):
    survey = _managed(survey_id)
    form = _question_form(survey, formdata=request.form)
    if form.validate():
        try:
            services.add_question(current_user, survey, _question_data(survey, form))
            flash(_("Pregunta agregada."), "success")
        except DomainError as exc:
            db.session.rollback()
            _flash_error(exc)
    else:
        flash(
            _(
                "Revisa la pregunta: %(errors)s",
                errors="; ".join(str(e) for es in form.errors.values() for e in es),
            ),
            "error",
        )
    return redirect(url_for("surveys.edit", survey_id=survey_id) + "#questions")


@bp.route("/surveys/<id:survey_id>/questions/<id:question_id>/edit", methods=["GET", "POST"])
@login_required
def edit_question(survey_id: int, question_id: int):
    survey = _managed(survey_id)
    question = survey.question(question_id) or abort(404)
    form = _question_form(survey, question, formdata=request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        try:
            services.update_question(current_user, question, _question_data(survey, form))
            flash(_("Pregunta actualizada."), "success")
            return redirect(url_for("surveys.edit", survey_id=survey_id) + "#questions")
        except DomainError as exc:
            db.session.rollback()
            _flash_error(exc)
    return render_template(
        "surveys/question_form.html", survey=survey, question=question, form=form, **_labels()
    )


@bp.route("/surveys/<id:survey_id>/questions/<id:question_id>/<action>", methods=["POST"])
@login_required
def question_action(survey_id: int, question_id: int, action: str):
    survey = _managed(survey_id)
    question = survey.question(question_id) or abort(404)
    try:
        if action == "delete":
            services.delete_question(current_user, question)
            flash(_("Pregunta eliminada."), "success")
        elif action in ("up", "down"):
            services.move_question(current_user, question, -1 if action == "up" else 1)
        else:
            abort(404)
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return redirect(url_for("surveys.edit", survey_id=survey_id) + "#questions")


@bp.route("/surveys/<id:survey_id>/sections", methods=["POST"])
@login_required
def add_section(survey_id: int):
    survey = _managed(survey_id)
    form = forms.SectionForm(prefix="section")
    try:
        if not form.validate():
            raise DomainError(_("Escribe el título de la sección."), status=422)
        services.add_section(current_user, survey, form.title.data, form.description.data or "")
        flash(_("Sección agregada."), "success")
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return redirect(url_for("surveys.edit", survey_id=survey_id) + "#sections")


@bp.route("/surveys/<id:survey_id>/sections/<id:section_id>/delete", methods=["POST"])
@login_required
def delete_section(survey_id: int, section_id: int):
    survey = _managed(survey_id)
    section = next((s for s in survey.sections if s.id == section_id), None) or abort(404)
    try:
        services.delete_section(current_user, section)
        flash(_("Sección eliminada; sus preguntas quedan sin sección."), "success")
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return redirect(url_for("surveys.edit", survey_id=survey_id) + "#sections")


TRANSITIONS = {
    "open": (services.open_survey, _l("La encuesta está abierta (o programada).")),
    "close": (services.close_survey, _l("La encuesta está cerrada.")),
    "publish-results": (services.publish_results, _l("Los resultados están publicados.")),
}


@bp.route("/surveys/<id:survey_id>/<any('open','close','publish-results'):action>", methods=["POST"])
@login_required
def transition(survey_id: int, action: str):
    survey = _managed(survey_id)
    func, message = TRANSITIONS[action]
    try:
        func(current_user, survey)
        flash(str(message), "success")
    except DomainError as exc:
        db.session.rollback()
        _flash_error(exc)
    return redirect(url_for("surveys.edit", survey_id=survey_id))


@bp.route("/surveys/<id:survey_id>/duplicate", methods=["POST"])
@login_required
def duplicate(survey_id: int):
    survey = _managed(survey_id)
    copy = services.duplicate_survey(current_user, survey)
    flash(_("Creamos una copia en borrador."), "success")
    return redirect(url_for("surveys.edit", survey_id=copy.id))


@bp.route("/surveys/<id:survey_id>/preview")
@login_required
def preview(survey_id: int):
    survey = _managed(survey_id)
    return _answer_page(survey, preview=True)


@bp.route("/surveys/<id:survey_id>/invitations", methods=["GET", "POST"])
@login_required
def invitations(survey_id: int):
    survey = _managed(survey_id)
    form = forms.InvitationsForm()
    links: list[str] = []
    if form.validate_on_submit():
        try:
            tokens = services.create_invitations(current_user, survey, form.count.data, form.label.data or "")
            links = [url_for("surveys.invitation", token=t, _external=True) for t in tokens]
        except DomainError as exc:
            db.session.rollback()
            _flash_error(exc)
    created, used = services.invitation_counts(survey)
    return render_template(
        "surveys/invitations.html",
        survey=survey,
        form=form,
        links=links,
        created=created,
        used=used,
        **_labels(),
    )


@bp.route("/surveys/<id:survey_id>/moderation", methods=["GET", "POST"])
@login_required
def moderate(survey_id: int):
    survey = _managed(survey_id)
    if request.method == "POST":
        approve = request.form.get("decision") == "approve"
        try:
            if request.form.get("idea"):
                idea = db.session.get(SurveyChoice, int(request.form["idea"]))
                if idea is None or idea.question.survey_id != survey.id:
                    abort(404)
                wiki.moderate_idea(current_user, idea, approve)
            elif request.form.get("answer", "").isdigit():
                moderation.moderate_text(current_user, survey, int(request.form["answer"]), approve)
            flash(_("Aprobado.") if approve else _("Rechazado."), "success")
        except DomainError as exc:
            db.session.rollback()
            _flash_error(exc)
        return redirect(url_for("surveys.moderate", survey_id=survey_id))
    return render_template(
        "surveys/moderation.html",
        survey=survey,
        ideas=wiki.pending_ideas(survey),
        texts=moderation.pending_texts(survey),
        **_labels(),
    )


@bp.route("/surveys/<id:survey_id>/export")
@login_required
def export(survey_id: int):
    survey = _managed(survey_id)
    fmt = request.args.get("format", "csv")
    try:
        outcome = exports.request_export(current_user, survey, fmt)
    except DomainError as exc:
        _flash_error(exc)
        return redirect(url_for("surveys.edit", survey_id=survey_id))
    if isinstance(outcome, exports.ExportFile):
        return Response(
            outcome.content,
            mimetype=outcome.mimetype,
            headers={"Content-Disposition": f'attachment; filename="{outcome.filename}"'},
        )
    return redirect(url_for("surveys.export_status", survey_id=survey_id, export_id=outcome.id))


@bp.route("/surveys/<id:survey_id>/exports/<id:export_id>")
@login_required
def export_status(survey_id: int, export_id: int):
    survey = _managed(survey_id)
    item = exports.get_export(survey, export_id) or abort(404)
    return render_template(
        "surveys/export_status.html", survey=survey, export=item, now=utcnow(), **_labels()
    )


@bp.route("/surveys/<id:survey_id>/exports/<id:export_id>/download")
@login_required
def export_download(survey_id: int, export_id: int):
    survey = _managed(survey_id)
    item = exports.get_export(survey, export_id)
    if item is None or str(item.status) != "ready":
        abort(404)
    return Response(
        item.content,
        mimetype=exports.MIMETYPES[item.format],
        headers={"Content-Disposition": f'attachment; filename="{item.filename}"'},
    )


# --- how surveys' actions read in the audit log -------------------------------------------------

audit.describe_actions(
    {
        "survey.created": _l("creó una encuesta"),
        "survey.updated": _l("editó una encuesta"),
        "survey.duplicated": _l("creó una encuesta como copia de otra"),
        "survey.scheduled": _l("programó la apertura de una encuesta"),
        "survey.opened": _l("abrió una encuesta"),
        "survey.closed": _l("cerró una encuesta"),
        "survey.results_published": _l("publicó los resultados de una encuesta"),
        "survey.text_approved": _l("aprobó una respuesta abierta para los resultados"),
        "survey.text_rejected": _l("rechazó una respuesta abierta para los resultados"),
        "survey.idea_approved": _l("aprobó una idea propuesta"),
        "survey.idea_rejected": _l("rechazó una idea propuesta"),
    }
)
audit.describe_values(["survey.created"], "privacy", services.PRIVACY_LABELS)
audit.link_objects("survey", lambda object_id: url_for("surveys.answer", survey_id=int(object_id)))
audit.name_objects({"survey": _l("encuesta"), "surveychoice": _l("idea")})
