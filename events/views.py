"""HTML pages of events, registrations, check-in, outcomes and stories (thin: services work)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.routing import BuildError
from wtforms import FieldList

from core import audit
from core.choices import MEXICAN_STATES, SECTOR_LABELS
from core.exceptions import DomainError, ValidationErrors
from core.extensions import db
from core.images import accepts_image_uploads
from core.models import Institution
from core.permissions import require
from core.timeutil import to_zone, utcnow
from events import forms, links, services
from events.models import Commitment, Event, EventStatus, RegistrationStatus, SuccessStory
from events.permissions import may_view
from events.rendering import event_date, event_span, event_time, markdown_to_html, spans_days

bp = Blueprint("events", __name__, template_folder="templates")


@bp.app_template_filter("markdown")
def _markdown_filter(source: str | None):
    return markdown_to_html(source)


bp.add_app_template_global(event_time, "event_time")
bp.add_app_template_global(event_span, "event_span")
bp.add_app_template_global(event_date, "event_date")
bp.add_app_template_global(spans_days, "spans_days")


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": services.KIND_LABELS,
        "format_labels": services.FORMAT_LABELS,
        "status_labels": services.STATUS_LABELS,
        "registration_labels": services.REGISTRATION_STATUS_LABELS,
        "commitment_labels": services.COMMITMENT_STATUS_LABELS,
        "consent_labels": services.CONSENT_LABELS,
        "sector_labels": SECTOR_LABELS,
    }


# Services name fields as the API does; these are the form fields that hold them.
FORM_FIELD_OF = {
    "reminder_offsets_minutes": "reminder_offsets",
    "sector_seats": forms.sector_field_name(str(next(iter(SECTOR_LABELS)))),
    "attendance_count": "attendance",
}


def _attach_error(form, field_name: str | None, message: Any) -> bool:
    """Put `message` next to its field (a list's under the list); whether the form had it."""
    name = FORM_FIELD_OF.get(field_name or "", field_name)
    if form is None or not name or name not in form:
        return False
    field = form[name]
    if isinstance(field, FieldList):
        field.list_errors = [*getattr(field, "list_errors", []), str(message)]
    elif str(message) not in [str(m) for m in field.errors]:
        field.errors = [*field.errors, str(message)]
    return True


def show_domain_error(form, exc: DomainError) -> None:
    """Attach a service refusal (each of them, for ValidationErrors) to its form field, or flash it."""
    refusals = exc.errors if isinstance(exc, ValidationErrors) else {exc.field: exc.message}
    for field_name, message in refusals.items():
        if not _attach_error(form, field_name, message):
            flash(str(message), "error")


def show_service_checks(form, errors: dict[str, Any]) -> None:
    """Add what the services would also refuse to the form's own errors (fields that already
    have an error keep theirs): every mistake is reported in one submission."""
    for field_name, message in errors.items():
        name = FORM_FIELD_OF.get(field_name, field_name)
        if name in form and not form[name].errors and not getattr(form[name], "list_errors", None):
            _attach_error(form, field_name, message)


def _event_or_404(event_id: int) -> Event:
    event = services.get_event(event_id)
    if event is None or not may_view(current_user, event):
        abort(404)
    return event


def _managed_event(event_id: int) -> Event:
    event = services.get_event(event_id)
    if event is None:
        abort(404)
    require(current_user, "events.manage", event)
    return event


def calendar_url(event: Event) -> str | None:
    """The event's .ics download (served by the calendar feeds, `calendars.event_ics`)."""
    try:
        return url_for("calendars.event_ics", event_id=event.id)
    except BuildError:
        return None


def _int_arg(name: str, default: int = 1) -> int:
    try:
        return max(1, min(int(request.args.get(name, default)), 100000))
    except ValueError:
        return default


# --- public list, detail, registration --------------------------------------------------------


@bp.get("/events")
def list_events():
    """Public list of events with filters and pagination."""
    filters = services.EventFilters(
        kind=request.args.get("kind") or None,
        institution=request.args.get("institution") or None,
        state=request.args.get("state") or None,
        format=request.args.get("format") or None,
        q=(request.args.get("q") or "").strip()[:200] or None,
        when=request.args.get("when") if request.args.get("when") in ("upcoming", "past") else None,
        page=_int_arg("page"),
    )
    if filters.when is None and "when" not in request.args:
        filters.when = "upcoming"
    page = services.list_events(filters)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    labels = _labels()
    # Translated once for the page, not again by each card (they are lazy strings).
    for name in ("kind_labels", "format_labels", "status_labels"):
        labels[name] = {key: str(label) for key, label in labels[name].items()}
    return render_template(
        "events/list.html",
        page=page,
        filters=filters,
        args=args,
        institutions=services.institutions_for_filters(),
        states=MEXICAN_STATES,
        now=utcnow(),
        **labels,
    )


@bp.get("/events/calendar")
def month_calendar():
    """The public events of one month as a calendar grid (in the viewer's time zone)."""
    from flask_babel import format_date

    from core.i18n import select_timezone

    zone = select_timezone()
    today = to_zone(utcnow(), zone).date()
    try:
        year, month = (int(part) for part in request.args.get("month", "").split("-"))
        if not (2000 <= year <= today.year + 10 and 1 <= month <= 12):
            raise ValueError
    except ValueError:
        year, month = today.year, today.month
    weeks = services.month_calendar(year, month, zone)
    first = date(year, month, 1)
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    following = (first.replace(day=28) + timedelta(days=4)).strftime("%Y-%m")
    return render_template(
        "events/calendar.html",
        weeks=weeks,
        title=format_date(first, "LLLL y"),
        previous=previous,
        following=following,
        today=today,
        zone=zone,
        weekdays=[format_date(day.day, "EEEE") for day in weeks[0]],
        **_labels(),
    )


@bp.get("/events/<id:event_id>")
def detail(event_id: int):
    """An event's public page: times, place, agenda, seats, and register/cancel."""
    event = _event_or_404(event_id)
    counts = services.seat_counts(event.id)
    registration = services.registration_for(current_user, event)
    manager = current_user.is_authenticated and services_can_manage(event)
    confirmed = registration is not None and registration.status == RegistrationStatus.confirmed
    commitments = services.public_commitments(event) if event.status == EventStatus.completed else []
    story = services.story_of(event)
    if story is not None and story.published_at is None and not manager:
        story = None
    return render_template(
        "events/detail.html",
        event=event,
        counts=counts,
        seats_left=services.seats_left(event, counts),
        state=services.registration_state(event, counts),
        registration=registration,
        position=services.waitlist_position(registration) if registration else None,
        qr=services.qr_svg_data_uri(registration.code) if confirmed else None,
        show_online_url=bool(confirmed or manager),
        manager=manager,
        map_url=services.map_url(event),
        calendar_url=calendar_url(event),
        page_url=services.event_url(event),
        google_url=links.google_calendar_url(event, services.event_url(event)),
        outlook_url=links.outlook_calendar_url(event, services.event_url(event)),
        description=links.meta_description(event),
        commitments=commitments,
        cohosts=services.visible_cohosts(event, manager=bool(manager)),
        story=story,
        confirm_form=forms.ConfirmForm(),
        now=utcnow(),
        **_labels(),
    )


def services_can_manage(event: Event) -> bool:
    from core.permissions import can

    return can(current_user, "events.manage", event)


@bp.route("/events/<id:event_id>/register", methods=["GET", "POST"])
@login_required
def register(event_id: int):
    """Register (answering the event's questions, if any)."""
    if request.method == "POST":
        # The event is read once, already locked: the lean path of a registration burst
        # (a second registration of the same person is refused by the database).
        event = services.lock_for_registration(event_id)
        if event is None or not may_view(current_user, event):
            db.session.rollback()
            abort(404)
    else:
        event = _event_or_404(event_id)
        if services.registration_for(current_user, event) is not None:
            flash(_("Ya estás registrado en esta actividad."), "info")
            return redirect(url_for("events.detail", event_id=event.id))
    form = forms.registration_form(event.questions)
    if form.validate_on_submit():
        answers = {str(q.id): form[f"q{q.id}"].data for q in event.questions}
        try:
            registration = services.register(current_user, event, answers, event_locked=True)
        except DomainError as exc:
            db.session.rollback()
            if exc.field and exc.field.startswith("q") and exc.field in form:
                show_domain_error(form, exc)
            else:
                flash(str(exc.message), "info" if exc.code == "already_registered" else "error")
                return redirect(url_for("events.detail", event_id=event.id))
        else:
            if registration.status == RegistrationStatus.confirmed:
                flash(
                    _(
                        "¡Listo! Tu lugar está confirmado. Tu código es %(code)s; te lo enviamos por correo.",
                        code=registration.code,
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "El cupo está lleno: quedaste en la lista de espera (lugar %(n)s). "
                        "Te avisaremos si se libera un lugar.",
                        n=services.waitlist_position(registration),
                    ),
                    "info",
                )
            return redirect(url_for("events.detail", event_id=event.id))
    elif request.method == "POST" and not event.questions:
        flash(_("El formulario caducó; vuelve a intentarlo."), "error")
        return redirect(url_for("events.detail", event_id=event.id))
    return render_template("events/register.html", event=event, form=form), 422 if form.errors else 200


@bp.route("/events/<id:event_id>/registration/cancel", methods=["GET", "POST"])
@login_required
def cancel_registration(event_id: int):
    """Give up my place (until the start), after a step that says what happens to it."""
    event = _event_or_404(event_id)
    registration = services.registration_for(current_user, event)
    if registration is None:
        flash(_("No tienes un registro activo en esta actividad."), "info")
        return redirect(url_for("events.detail", event_id=event_id))
    form = forms.ConfirmForm()
    if request.method == "GET":
        return render_template(
            "core/confirm.html",
            heading=_("¿Cancelar tu registro en «%(title)s»?", title=event.title),
            consequences=_registration_cancel_consequences(event, registration),
            action=url_for("events.cancel_registration", event_id=event_id),
            form=form,
            confirm_label=_("Sí, cancelar mi registro"),
            back_url=url_for("events.detail", event_id=event_id),
        )
    if form.validate_on_submit():
        try:
            services.cancel_registration(current_user, registration)
        except DomainError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Cancelaste tu registro."), "success")
    return redirect(url_for("events.detail", event_id=event_id))


def _registration_cancel_consequences(event: Event, registration) -> list[str]:
    """What giving up this registration does, in the words the person reads before confirming."""
    if registration.status == RegistrationStatus.waitlisted:
        said = [
            _(
                "Saldrás de la lista de espera (hoy tienes el lugar %(n)s).",
                n=services.waitlist_position(registration),
            )
        ]
    elif services.seat_counts(event.id).waitlisted:
        said = [
            _("Tu código %(code)s dejará de valer.", code=registration.code),
            _("Tu lugar pasará a la primera persona en lista de espera; le avisaremos por correo."),
        ]
    else:
        said = [
            _("Tu código %(code)s dejará de valer.", code=registration.code),
            _("Tu lugar quedará libre para alguien más."),
        ]
    said.append(_("Ya no te enviaremos recordatorios de esta actividad."))
    said.append(_("Podrás volver a registrarte mientras haya lugar y el registro siga abierto."))
    return said


@bp.get("/events/mine")
@login_required
def my_events():
    """The events I registered for, with my codes and waitlist positions."""
    registrations = services.my_registrations(current_user)
    positions = {
        r.id: services.waitlist_position(r)
        for r in registrations
        if r.status == RegistrationStatus.waitlisted
    }
    return render_template(
        "events/mine.html", registrations=registrations, positions=positions, now=utcnow(), **_labels()
    )


# --- management -------------------------------------------------------------------------------


@bp.get("/events/manage")
@login_required
def manage():
    """Events of the institutions I manage, drafts included."""
    institutions = services.managed_institutions(current_user)
    if not institutions:
        abort(403)
    page = services.list_events(services.EventFilters(page=_int_arg("page")), manager=current_user)
    return render_template(
        "events/manage.html",
        page=page,
        institutions=institutions,
        requests_count=services.consent_requests(current_user).total,
        now=utcnow(),
        **_labels(),
    )


def _local(value: datetime | None, zone: str) -> datetime | None:
    return to_zone(value, zone).replace(tzinfo=None) if value else None


def _event_payload(form: forms.EventForm) -> dict[str, Any]:
    seats = {
        str(sector): form[forms.sector_field_name(str(sector))].data
        for sector in SECTOR_LABELS
        if form[forms.sector_field_name(str(sector))].data
    }
    return {
        "kind": form.kind.data,
        "title": form.title.data,
        "summary": form.summary.data or "",
        "description": form.description.data or "",
        "topics": form.topics.data or "",
        "format": form.format.data,
        "venue": form.venue.data,
        "address": form.address.data,
        "state": form.state.data or None,
        "latitude": form.latitude.data,
        "longitude": form.longitude.data,
        "online_url": form.online_url.data,
        "timezone": form.timezone.data,
        "starts_at": form.starts_at.data,
        "ends_at": form.ends_at.data,
        "registration_opens_at": form.registration_opens_at.data,
        "registration_closes_at": form.registration_closes_at.data,
        "capacity": form.capacity.data,
        "waitlist": form.waitlist.data,
        "academic_partner": form.academic_partner.data,
        "cohosts": form.cohosts.data or [],
        "reminder_offsets_minutes": form.reminder_offsets.data or "",
        "sector_seats": seats,
        "agenda": forms.agenda_rows(form.agenda),
        "datasets": forms.dataset_rows(form.datasets),
        "questions": forms.question_rows(form.questions),
    }


def _event_form_choices(form: forms.EventForm, institutions: list[Institution]) -> None:
    form.institution.choices = forms.options((i.slug, i.display_name) for i in institutions)
    everyone = db.session.execute(select(Institution).order_by(Institution.name)).scalars()
    form.cohosts.choices = forms.options((i.slug, i.display_name) for i in everyone)


def _event_form_page(form: forms.EventForm, event: Event | None):
    """The event form (with blank rows to add to its lists), 422 when it has errors."""
    page = render_template(
        "events/form.html", form=forms.pad_rows(form), event=event, sector_labels=SECTOR_LABELS
    )
    return page, 422 if forms.has_errors(form) else 200


@bp.route("/events/new", methods=["GET", "POST"])
@login_required
def new_event():
    """Create a draft event for one of my institutions."""
    institutions = services.managed_institutions(current_user)
    if not institutions:
        abort(403)
    form = forms.EventForm()
    _event_form_choices(form, institutions)
    if request.method == "GET":
        chosen = request.args.get("institution")
        form.institution.data = chosen if chosen in {i.slug for i in institutions} else institutions[0].slug
        form.timezone.data = current_app.config["DEFAULT_TIMEZONE"]
        form.waitlist.data = True
    if form.validate_on_submit():
        institution = next(i for i in institutions if i.slug == form.institution.data)
        require(current_user, "events.manage", institution)
        try:
            event = services.create_event(current_user, institution, _event_payload(form))
            _save_cover(form, event)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(
                _("Guardamos «%(title)s» como borrador. Revísalo y publícalo.", title=event.title), "success"
            )
            return redirect(url_for("events.detail", event_id=event.id))
    elif form.is_submitted() and "csrf_token" not in form.errors:
        institution = next((i for i in institutions if i.slug == form.institution.data), institutions[0])
        show_service_checks(form, services.check_event_data(current_user, institution, _event_payload(form)))
    return _event_form_page(form, None)


def _save_cover(form: forms.EventForm, event: Event) -> None:
    """The cover part of the event form: a new picture, its removal, or its alt text."""
    if form.cover.processed is not None:
        services.set_cover(current_user, event, form.cover.processed, form.cover_alt.data)
    elif form.remove_cover.data:
        services.remove_cover(current_user, event)
    elif event.cover_image_id is not None:
        services.describe_cover(current_user, event, form.cover_alt.data)


@bp.route("/events/<id:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit_event(event_id: int):
    """Edit an event (moving a published one notifies its registrants)."""
    event = _managed_event(event_id)
    if event.status in (EventStatus.completed, EventStatus.cancelled):
        flash(_("Una actividad concluida o cancelada ya no se edita."), "info")
        return redirect(url_for("events.detail", event_id=event.id))
    form = forms.EventForm()
    form.keeps_image = event.cover_image_id is not None and not form.remove_cover.data
    _event_form_choices(form, [event.institution])
    if request.method == "GET":
        zone = event.timezone
        form.process(
            data={
                "institution": event.institution.slug,
                "kind": str(event.kind),
                "title": event.title,
                "summary": event.summary,
                "description": event.description,
                "topics": ", ".join(event.topics or []),
                "format": str(event.format),
                "venue": event.venue,
                "address": event.address,
                "state": event.state or "",
                "latitude": event.latitude,
                "longitude": event.longitude,
                "online_url": event.online_url,
                "timezone": zone,
                "starts_at": _local(event.starts_at, zone),
                "ends_at": _local(event.ends_at, zone),
                "registration_opens_at": _local(event.registration_opens_at, zone),
                "registration_closes_at": _local(event.registration_closes_at, zone),
                "capacity": event.capacity,
                "waitlist": event.waitlist_enabled,
                "academic_partner": event.academic_partner,
                "cohosts": [c.institution.slug for c in event.cohosts],
                "reminder_offsets": ", ".join(str(m) for m in event.reminder_offsets or []),
                "agenda": forms.agenda_data(event, lambda value: to_zone(value, zone)),
                "datasets": forms.dataset_data(event.datasets_for("linked")),
                "questions": forms.question_data(event.questions),
                **{forms.sector_field_name(s): n for s, n in event.seats_by_sector.items()},
            }
        )
        form.cover_alt.data = event.cover_alt
    elif form.validate_on_submit():
        form.institution.data = event.institution.slug
        try:
            services.update_event(current_user, event, _event_payload(form))
            _save_cover(form, event)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(_("Guardamos los cambios."), "success")
            return redirect(url_for("events.detail", event_id=event.id))
    elif form.is_submitted() and "csrf_token" not in form.errors:
        payload = _event_payload(form)
        show_service_checks(form, services.check_event_data(current_user, event.institution, payload, event))
    return _event_form_page(form, event)


@bp.post("/events/<id:event_id>/publish")
@login_required
def publish(event_id: int):
    """Publish a draft."""
    event = _managed_event(event_id)
    if forms.ConfirmForm().validate_on_submit():
        try:
            services.publish_event(current_user, event)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(_("Publicaste «%(title)s»; el registro está abierto.", title=event.title), "success")
    return redirect(url_for("events.detail", event_id=event_id))


@bp.route("/events/<id:event_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(event_id: int):
    """Move an event to new times; registrants are told old and new."""
    event = _managed_event(event_id)
    form = forms.RescheduleForm()
    if request.method == "GET":
        form.starts_at.data = _local(event.starts_at, event.timezone)
        form.ends_at.data = _local(event.ends_at, event.timezone)
    if form.validate_on_submit():
        try:
            services.reschedule_event(current_user, event, form.starts_at.data, form.ends_at.data)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(_("Reprogramaste la actividad; avisamos a las personas registradas."), "success")
            return redirect(url_for("events.detail", event_id=event_id))
    return render_template("events/reschedule.html", form=form, event=event), 422 if form.errors else 200


@bp.route("/events/<id:event_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(event_id: int):
    """Cancel an event with a reason (every registrant is told); a draft is deleted instead."""
    event = _managed_event(event_id)
    if event.status == EventStatus.draft:
        flash(
            _(
                "Un borrador no se cancela: nunca fue público. Si ya no lo necesitas, elimínalo; "
                "si sigue en pie, publícalo."
            ),
            "info",
        )
        return redirect(url_for("events.delete_event", event_id=event.id))
    form = forms.CancelEventForm()
    if form.validate_on_submit():
        try:
            services.cancel_event(current_user, event, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(_("Cancelaste la actividad y avisamos a las personas registradas."), "success")
            return redirect(url_for("events.detail", event_id=event_id))
    return render_template(
        "events/cancel.html", form=form, event=event, counts=services.seat_counts(event.id)
    ), 422 if form.errors else 200


@bp.route("/events/<id:event_id>/duplicate", methods=["GET", "POST"])
@login_required
def duplicate(event_id: int):
    """Copy an event to new dates as a new draft, then show the copy's form to review it."""
    event = _managed_event(event_id)
    form = forms.DuplicateForm()
    if form.validate_on_submit():
        try:
            copy = services.duplicate_event(current_user, event, form.starts_at.data, form.ends_at.data)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(
                _(
                    "Creamos una copia de «%(title)s» como borrador con las fechas nuevas. "
                    "Revisa lo copiado y publícala cuando esté lista.",
                    title=copy.title,
                ),
                "success",
            )
            return redirect(url_for("events.edit_event", event_id=copy.id))
    return render_template("events/duplicate.html", form=form, event=event), 422 if form.errors else 200


@bp.route("/events/<id:event_id>/delete", methods=["GET", "POST"])
@login_required
def delete_event(event_id: int):
    """Delete a draft (never published), after a confirmation step."""
    event = _managed_event(event_id)
    if event.published_at is not None:
        flash(_("Esta actividad ya se publicó: no se elimina, se cancela con un motivo."), "info")
        return redirect(url_for("events.cancel", event_id=event.id))
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        title = event.title
        try:
            services.delete_draft(current_user, event)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            return redirect(url_for("events.detail", event_id=event_id))
        flash(_("Eliminamos el borrador «%(title)s».", title=title), "success")
        return redirect(url_for("events.manage"))
    return render_template("events/delete.html", event=event, form=form)


# --- other institutions' consent -----------------------------------------------------------


@bp.get("/events/requests")
@login_required
def consent_requests():
    """What other institutions named mine for: co-hosting events, answering for commitments."""
    if not services.managed_institutions(current_user):
        abort(403)
    return render_template(
        "events/requests.html",
        requests=services.consent_requests(current_user),
        form=forms.ConfirmForm(),
        **_labels(),
    )


def _answer_flash(accepted: bool) -> None:
    if accepted:
        flash(_("Aceptaste. Ya se muestra como confirmado."), "success")
    else:
        flash(_("Declinaste. Ya no se muestra; avisamos a la institución organizadora."), "success")


@bp.post("/events/<id:event_id>/cohosts/<slug>/<any(accept, decline):answer>")
@login_required
def answer_cohost(event_id: int, slug: str, answer: str):
    """Accept or decline co-hosting an event, for my institution."""
    cohost = services.get_cohost(event_id, slug)
    if cohost is None:
        abort(404)
    require(current_user, "events.consent", cohost.institution)
    if forms.ConfirmForm().validate_on_submit():
        try:
            services.answer_cohost(current_user, cohost, accept=answer == "accept")
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            _answer_flash(answer == "accept")
    return redirect(url_for("events.consent_requests"))


@bp.post("/events/<id:event_id>/commitments/<id:commitment_id>/responsibility/<any(accept, decline):answer>")
@login_required
def answer_responsibility(event_id: int, commitment_id: int, answer: str):
    """Accept or decline being responsible for a commitment, for my institution."""
    commitment = db.session.get(Commitment, commitment_id)
    if commitment is None or commitment.event_id != event_id or commitment.responsible_institution is None:
        abort(404)
    require(current_user, "events.consent", commitment.responsible_institution)
    if forms.ConfirmForm().validate_on_submit():
        try:
            services.answer_responsibility(current_user, commitment, accept=answer == "accept")
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            _answer_flash(answer == "accept")
    return redirect(url_for("events.consent_requests"))


@bp.get("/events/<id:event_id>/registrations")
@login_required
def registrations(event_id: int):
    """Who registered, in arrival order, with attendance figures."""
    event = _managed_event(event_id)
    rows = services.registrations_of(event)
    return render_template(
        "events/registrations.html",
        event=event,
        registrations=rows,
        positions=services.waitlist_positions(rows),
        attendance=services.attendance(event),
        **_labels(),
    )


@bp.get("/events/<id:event_id>/registrations.csv")
@login_required
def registrations_csv(event_id: int):
    """The attendee list with answers, as CSV."""
    event = _managed_event(event_id)
    body = "\ufeff" + services.attendee_csv(event)  # BOM: spreadsheets then read UTF-8 accents right
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="actividad-{event.id}-registros.csv"'},
    )


@bp.route("/events/<id:event_id>/checkin", methods=["GET", "POST"])
@login_required
def checkin(event_id: int):
    """Check people in by code; record walk-ins."""
    event = _managed_event(event_id)
    form = forms.CheckInForm()
    walk_in_form = forms.WalkInForm(prefix="walkin")
    if form.validate_on_submit() and check_in_by_code(event, form):
        return redirect(url_for("events.checkin", event_id=event_id))
    return render_template(
        "events/checkin.html",
        event=event,
        form=form,
        walk_in_form=walk_in_form,
        attendance=services.attendance(event),
        closed_reason=services.check_in_closed_reason(event),
        **_checkin_context(event),
    ), 422 if form.errors else 200


def check_in_by_code(event: Event, form: forms.CheckInForm) -> bool:
    """Check in the code typed (or scanned) in `form`, flashing who it was; False when refused
    (the reason is then on the form)."""
    try:
        result = services.check_in(current_user, event, form.code.data)
    except DomainError as exc:
        db.session.rollback()
        show_domain_error(form, exc)
        return False
    person = result.registration
    if result.already:
        flash(_("%(name)s ya tenía registrada su asistencia.", name=person.display_name), "info")
    else:
        flash(
            _("Asistencia registrada: %(name)s (%(code)s).", name=person.display_name, code=person.code),
            "success",
        )
    return True


def _checkin_context(event: Event) -> dict[str, Any]:
    from events.dayof_views import checkin_context

    return checkin_context(event, request.args.get("q"))


@bp.post("/events/<id:event_id>/walk-ins")
@login_required
def walk_in(event_id: int):
    """Record someone who came without registering."""
    event = _managed_event(event_id)
    walk_in_form = forms.WalkInForm(prefix="walkin")
    if walk_in_form.validate_on_submit():
        try:
            services.record_walk_in(
                current_user, event, walk_in_form.name.data, walk_in_form.sector.data or None
            )
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(_("Registramos a %(name)s sin registro previo.", name=walk_in_form.name.data), "success")
            return redirect(url_for("events.checkin", event_id=event_id))
    return render_template(
        "events/checkin.html",
        event=event,
        form=forms.CheckInForm(formdata=None),
        walk_in_form=walk_in_form,
        attendance=services.attendance(event),
        **_checkin_context(event),
    ), 422


def _commitment_form(event: Event) -> forms.CommitmentForm:
    form = forms.CommitmentForm(prefix="commitment")
    everyone = db.session.execute(select(Institution).order_by(Institution.name)).scalars()
    form.responsible_institution.choices = forms.options(
        [("", _("Ninguna (escribe el nombre abajo)")), *((i.slug, i.display_name) for i in everyone)]
    )
    return form


def _outcome_open(event: Event) -> bool:
    """Whether the outcome can be recorded: the event has started (a concluded one has)."""
    return event.status == EventStatus.completed or (
        event.status == EventStatus.published and event.starts_at <= utcnow()
    )


bp.add_app_template_global(_outcome_open, "outcome_open")


def _outcome_page(event: Event, form: forms.OutcomeForm, commitment_form: forms.CommitmentForm):
    """The outcome page: attendance, minutes and datasets, then the commitments (422 on errors)."""
    return render_template(
        "events/outcome.html",
        event=event,
        form=forms.pad_rows(form),
        attendance=services.attendance(event),
        commitment_form=commitment_form,
        commitments=services.public_commitments(event),
        status_form=forms.CommitmentStatusForm(),
        story=services.story_of(event),
        **_labels(),
    ), 422 if forms.has_errors(form) or forms.has_errors(commitment_form) else 200


@bp.route("/events/<id:event_id>/outcome", methods=["GET", "POST"])
@login_required
def outcome(event_id: int):
    """Record attendance, minutes, datasets and commitments once the event has started."""
    event = _managed_event(event_id)
    if not _outcome_open(event):
        flash(_("El resultado y los acuerdos se registran una vez que la actividad empezó."), "info")
        return redirect(url_for("events.detail", event_id=event.id))
    form = forms.OutcomeForm()
    if request.method == "GET":
        if event.outcome is not None:
            form.attendance.data = event.outcome.attendance
            form.minutes.data = event.outcome.minutes
        else:
            form.attendance.data = services.attendance(event).present
        form.datasets_published.process(None, forms.dataset_data(event.datasets_for("published")))
        form.datasets_requested.process(None, forms.dataset_data(event.datasets_for("requested")))
    if form.validate_on_submit():
        try:
            services.record_outcome(
                current_user,
                event,
                attendance_count=form.attendance.data,
                minutes=form.minutes.data,
                published_datasets=forms.dataset_rows(form.datasets_published),
                requested_datasets=forms.dataset_rows(form.datasets_requested),
            )
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            flash(_("Guardamos el resultado de la actividad."), "success")
            return redirect(url_for("events.outcome", event_id=event_id))
    return _outcome_page(event, form, _commitment_form(event))


@bp.post("/events/<id:event_id>/commitments")
@login_required
def add_commitment(event_id: int):
    """Add a commitment (acuerdo); on any error the outcome page comes back with what was typed."""
    event = _managed_event(event_id)
    form = _commitment_form(event)
    if form.validate_on_submit():
        try:
            services.add_commitment(
                current_user,
                event,
                {
                    "text": form.text.data,
                    "responsible_institution": form.responsible_institution.data or None,
                    "responsible_name": form.responsible_name.data,
                    "due_on": form.due_on.data,
                    "status": form.status.data,
                },
            )
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
            if not form.errors:  # a refusal about the event, not a field: nothing to correct here
                return redirect(url_for("events.outcome", event_id=event_id) + "#commitments")
        else:
            flash(_("Agregamos el acuerdo."), "success")
            return redirect(url_for("events.outcome", event_id=event_id) + "#commitments")
    elif "csrf_token" in form.errors:
        flash(_("El formulario caducó; vuelve a intentarlo."), "error")
    outcome_form = forms.OutcomeForm(formdata=None)
    if event.outcome is not None:
        outcome_form.attendance.data = event.outcome.attendance
        outcome_form.minutes.data = event.outcome.minutes
    outcome_form.datasets_published.process(None, forms.dataset_data(event.datasets_for("published")))
    outcome_form.datasets_requested.process(None, forms.dataset_data(event.datasets_for("requested")))
    return _outcome_page(event, outcome_form, form)


@bp.post("/events/<id:event_id>/commitments/<id:commitment_id>")
@login_required
def update_commitment(event_id: int, commitment_id: int):
    """Change a commitment's status."""
    event = _managed_event(event_id)
    commitment = db.session.get(Commitment, commitment_id)
    if commitment is None or commitment.event_id != event.id:
        abort(404)
    form = forms.CommitmentStatusForm()
    if form.validate_on_submit():
        services.update_commitment(current_user, commitment, {"status": form.status.data})
        flash(_("Actualizamos el estado del acuerdo."), "success")
    return redirect(url_for("events.outcome", event_id=event_id) + "#commitments")


@bp.route("/events/<id:event_id>/story", methods=["GET", "POST"])
@login_required
def edit_story(event_id: int):
    """Write, edit and publish the event's success story."""
    event = _managed_event(event_id)
    story = services.story_of(event)
    form = forms.StoryForm()
    if request.method == "GET" and story is not None:
        form.title.data = story.title
        form.body.data = story.body
        form.datasets.process(None, forms.dataset_data(story.datasets))
        form.publish.data = story.published_at is not None
    if form.validate_on_submit():
        body = form.body.data
        try:
            if form.image.processed is not None:
                line = services.attach_story_image(
                    current_user, event, form.image.processed, form.image_alt.data
                )
                body = f"{body.rstrip()}\n\n{line}"
            story = services.save_story(
                current_user,
                event,
                title=form.title.data,
                body=body,
                datasets=forms.dataset_rows(form.datasets),
                publish=form.publish.data,
                story=story,
            )
            if not form.publish.data and story.published_at is not None:
                services.set_story_published(current_user, story, False)
        except DomainError as exc:
            db.session.rollback()
            show_domain_error(form, exc)
        else:
            if form.image.processed is not None:
                flash(
                    _(
                        "Añadimos la imagen al final de la historia. Mueve su línea «![…](…)» al párrafo "
                        "donde quieras que aparezca y guarda."
                    ),
                    "success",
                )
                return redirect(url_for("events.edit_story", event_id=event.id) + "#body")
            flash(
                _("Publicamos la historia.")
                if story.published_at
                else _("Guardamos la historia sin publicar."),
                "success",
            )
            return redirect(url_for("events.story", story_id=story.id))
    return render_template(
        "events/story_form.html", event=event, story=story, form=forms.pad_rows(form)
    ), 422 if forms.has_errors(form) else 200


# --- stories --------------------------------------------------------------------------------------


@bp.get("/stories")
def stories():
    """Published success stories."""
    page = services.list_stories(page=_int_arg("page"))
    return render_template("events/stories.html", page=page, **_labels())


@bp.get("/stories/<id:story_id>")
def story(story_id: int):
    """A success story's public page (drafts: their managers only)."""
    found: SuccessStory | None = services.get_story(story_id)
    if found is None:
        abort(404)
    if found.published_at is None or not found.event.is_public:
        from core.permissions import can

        if not can(current_user, "events.manage", found):
            abort(404)
    return render_template(
        "events/story.html",
        story=found,
        event=found.event,
        commitments=services.public_commitments(found.event),
        **_labels(),
    )


accepts_image_uploads("events.new_event", "events.edit_event", "events.edit_story")


# --- how events' actions read in the audit log ------------------------------------------------

audit.describe_actions(
    {
        "event.create": _l("creó la actividad"),
        "event.duplicate": _l("creó la actividad como copia de otra"),
        "event.update": _l("editó la actividad"),
        "event.publish": _l("publicó la actividad"),
        "event.reschedule": _l("cambió la fecha de la actividad"),
        "event.cancel": _l("canceló la actividad"),
        "event.delete": _l("borró el borrador de una actividad"),
        "event.cohost.request": _l("invitó a otra institución a coorganizar la actividad"),
        "event.cohost.accept": _l("aceptó coorganizar la actividad"),
        "event.cohost.decline": _l("declinó coorganizar la actividad"),
        "commitment.responsible.request": _l("pidió a otra institución hacerse cargo de un acuerdo"),
        "commitment.responsible.accept": _l("aceptó hacerse cargo de un acuerdo"),
        "commitment.responsible.decline": _l("declinó hacerse cargo de un acuerdo"),
        "event.complete": _l("marcó la actividad como concluida"),
        "event.outcome.record": _l("registró el resultado de la actividad"),
        "event.outcome.update": _l("editó el resultado de la actividad"),
        "registration.promote": _l("pasó a alguien de la lista de espera"),
        "commitment.create": _l("registró un acuerdo"),
        "commitment.update": _l("actualizó un acuerdo"),
        "event.cover.set": _l("puso la imagen de portada"),
        "event.cover.describe": _l("cambió el texto alternativo de la portada"),
        "event.cover.remove": _l("quitó la imagen de portada"),
        "story.create": _l("escribió una historia"),
        "story.update": _l("editó una historia"),
        "story.publish": _l("publicó una historia"),
        "story.unpublish": _l("retiró una historia"),
        "calendar_feed.create": _l("creó su enlace de calendario privado"),
        "calendar_feed.revoke": _l("revocó su enlace de calendario privado"),
    }
)
audit.describe_values(["event.create", "event.duplicate", "event.delete"], "kind", services.KIND_LABELS)
audit.describe_values(["event.delete"], "status", services.STATUS_LABELS)
audit.describe_values(["commitment.update"], "from", services.COMMITMENT_STATUS_LABELS)
audit.describe_values(["commitment.update"], "to", services.COMMITMENT_STATUS_LABELS)
audit.describe_values(
    ["calendar_feed.revoke"],
    "reason",
    {"regenerated": _l("Reemplazado por un enlace nuevo"), "revoked": _l("Revocado sin reemplazo")},
)
audit.link_objects("event", lambda object_id: url_for("events.detail", event_id=int(object_id)))
audit.link_objects("successstory", lambda object_id: url_for("events.story", story_id=int(object_id)))
audit.name_objects(
    {
        "event": _l("actividad"),
        "successstory": _l("historia"),
        "registration": _l("registro"),
        "commitment": _l("acuerdo"),
        "calendarfeedtoken": _l("enlace de calendario"),
    }
)


# The day of an event (check-in by name and camera, messages, certificates) adds its pages here.
from events import dayof_views  # noqa: E402, F401
