"""Pages of the day of an event (thin: `events.services` works):
check-in by name with undo, by camera, messages to the event's people, confirming a
waitlisted person by hand, the XLSX export, and attendance certificates."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from core import audit
from core.choices import SECTOR_LABELS
from core.exceptions import DomainError
from core.extensions import db
from events import forms, services
from events.dayof_forms import MessageForm
from events.limits import limit_messages
from events.models import Registration, RegistrationStatus
from events.views import _labels, _managed_event, bp, check_in_by_code, show_domain_error

# --- check-in by name, with undo --------------------------------------------------------


def checkin_context(event, query: str | None) -> dict:
    """What the check-in page shows beside the code form: name search and the last check-ins."""
    query = (query or "").strip()[:200]
    return {
        "query": query,
        "found": services.find_attendees(event, query) if query else None,
        "recent": services.recent_check_ins(event),
        "registration_labels": services.REGISTRATION_STATUS_LABELS,
    }


def _back_to_checkin(event_id: int):
    target = request.form.get("next")
    if target == "scan":
        return redirect(url_for("events.checkin_scan", event_id=event_id))
    query = (request.form.get("q") or "").strip()[:200]
    args = {"q": query} if query else {}
    return redirect(url_for("events.checkin", event_id=event_id, **args) + "#resultados")


@bp.post("/events/<id:event_id>/checkins/<id:registration_id>")
@login_required
def check_in_row(event_id: int, registration_id: int):
    """Check in one person from the search results."""
    event = _managed_event(event_id)
    try:
        result = services.check_in_registration(current_user, event, registration_id)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        name = result.registration.display_name
        if result.already:
            flash(_("%(name)s ya tenía registrada su asistencia.", name=name), "info")
        else:
            flash(
                _("Asistencia registrada: %(name)s (%(code)s).", name=name, code=result.registration.code),
                "success",
            )
    return _back_to_checkin(event_id)


@bp.post("/events/<id:event_id>/checkins/<id:registration_id>/undo")
@login_required
def undo_check_in(event_id: int, registration_id: int):
    """Reverse a check-in (audited)."""
    event = _managed_event(event_id)
    try:
        registration = services.undo_check_in(current_user, event, registration_id)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        flash(_("Se deshizo la asistencia de %(name)s.", name=registration.display_name), "success")
    return _back_to_checkin(event_id)


@bp.route("/events/<id:event_id>/checkin/scan", methods=["GET", "POST"])
@login_required
def checkin_scan(event_id: int):
    """Check in by the phone's camera (the QR of the confirmation), or by the typed code."""
    event = _managed_event(event_id)
    form = forms.CheckInForm()
    if form.validate_on_submit() and check_in_by_code(event, form):
        return redirect(url_for("events.checkin_scan", event_id=event_id))
    response = make_response(
        render_template(
            "events/checkin_scan.html",
            event=event,
            form=form,
            attendance=services.attendance(event),
            closed_reason=services.check_in_closed_reason(event),
            recent=services.recent_check_ins(event, limit=3),
            **_labels(),
        ),
        422 if form.errors else 200,
    )
    # The one page that may use the camera (everywhere else the policy forbids it).
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    return response


# --- messages -----------------------------------------------------------------------------


@bp.route("/events/<id:event_id>/messages", methods=["GET", "POST"])
@login_required
@limit_messages
def messages(event_id: int):
    """Write to every confirmed (or waitlisted) person: preview, then send."""
    event = _managed_event(event_id)
    form = MessageForm()
    counts = services.audience_counts(event)
    preview = None
    status = 200
    if form.validate_on_submit():
        if "send" in request.form:
            try:
                message = services.send_message(
                    current_user, event, form.audience.data, form.subject.data, form.body.data
                )
            except DomainError as exc:
                db.session.rollback()
                show_domain_error(form, exc)
                status = 409 if exc.status == 409 else 422
            else:
                flash(
                    ngettext_people(message.recipients),
                    "success",
                )
                return redirect(url_for("events.messages", event_id=event_id))
        else:
            preview = {
                "audience": form.audience.data,
                "recipients": counts.get(form.audience.data, 0),
                "subject": form.subject.data.strip(),
                "body": form.body.data.strip(),
            }
    elif request.method == "POST":
        status = 422
    return render_template(
        "events/messages.html",
        event=event,
        form=form,
        counts=counts,
        preview=preview,
        sent=services.sent_messages(event),
        audience_labels=services.AUDIENCE_LABELS,
        **_labels(),
    ), status


def ngettext_people(count: int) -> str:
    from flask_babel import ngettext

    return ngettext(
        "Enviamos el mensaje a %(num)s persona.", "Enviamos el mensaje a %(num)s personas.", count
    )


# --- the waitlist by hand --------------------------------------------------------------------


@bp.route("/events/<id:event_id>/registrations/<id:registration_id>/promote", methods=["GET", "POST"])
@login_required
def promote(event_id: int, registration_id: int):
    """Confirm a waitlisted person; when they have no seat (the event or their sector is full),
    ask before raising the capacity or the sector's seats."""
    event = _managed_event(event_id)
    registration = db.session.get(Registration, registration_id)
    if registration is None or registration.event_id != event.id:
        abort(404)
    if request.method == "POST":
        try:
            promoted = services.promote_by_hand(
                current_user,
                event,
                registration_id,
                raise_capacity=request.form.get("raise_capacity") == "1",
                raise_sector_seats=request.form.get("raise_sector_seats") == "1",
            )
        except DomainError as exc:
            db.session.rollback()
            if exc.code not in ("event_full", "sector_full"):
                flash(str(exc.message), "error")
                return redirect(url_for("events.registrations", event_id=event_id))
        else:
            flash(_("Confirmaste a %(name)s; le avisamos por correo.", name=promoted.display_name), "success")
            return redirect(url_for("events.registrations", event_id=event_id))
    if registration.status != RegistrationStatus.waitlisted:
        return redirect(url_for("events.registrations", event_id=event_id))
    event = services.get_event(event_id)
    counts = services.seat_counts(event.id)
    shortfall = services.seat_shortfall(event, registration.sector, counts)
    return render_template(
        "events/promote.html",
        event=event,
        registration=registration,
        counts=counts,
        shortfall=shortfall,
        full=event.capacity is not None and counts.confirmed >= event.capacity,
        sector_label=SECTOR_LABELS.get(shortfall.sector, shortfall.sector) if shortfall.sector else None,
    )


# --- exports ------------------------------------------------------------------------------------


@bp.get("/events/<id:event_id>/registrations.xlsx")
@login_required
def registrations_xlsx(event_id: int):
    """The attendee list with answers, as an Excel workbook."""
    event = _managed_event(event_id)
    return Response(
        services.attendee_xlsx(event),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="actividad-{event.id}-registros.xlsx"'},
    )


# --- certificates --------------------------------------------------------------------------------


@bp.get("/events/registrations/<id:registration_id>/constancia.pdf")
@login_required
def certificate_pdf(registration_id: int):
    """My attendance certificate for one registration (issued on first download)."""
    try:
        certificate = services.certificate_for(current_user, registration_id)
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc.message), "error")
        return redirect(url_for("events.my_events"))
    return Response(
        services.certificate_pdf(certificate),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{services.certificate_file_name(certificate)}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get("/constancias/<code>")
def verify_certificate(code: str):
    """Public check of a certificate by its code: who attended what, when, with whom."""
    certificate = services.verify_certificate(code)
    if certificate is None:
        abort(404)
    return render_template(
        "events/certificate.html",
        certificate=certificate,
        registration=certificate.registration,
        event=certificate.registration.event,
        dates=services.certificate_event_dates(certificate.registration.event),
        display_code=services.display_certificate_code(certificate.code),
        **_labels(),
    )


audit.describe_actions(
    {
        "registration.check_in_undone": _l("deshizo un registro de asistencia"),
        "registration.promote_by_hand": _l("confirmó a mano a alguien de la lista de espera"),
        "registration.certificate_issued": _l("descargó su constancia de asistencia"),
        "event.capacity_raised": _l("subió el cupo de la actividad"),
        "event.sector_seats_raised": _l("subió los lugares de un sector de la actividad"),
        "event.message_sent": _l("escribió a las personas de la actividad"),
    }
)
audit.describe_values(["event.message_sent"], "audience", services.AUDIENCE_LABELS)
