"""Pages of notifications: the in-app centre, preferences, one-click unsubscribe, the
mailbox banner's page, and the admin pages for the outbox and email templates."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from core import audit
from core.exceptions import DomainError
from core.extensions import csrf
from core.i18n import current_locale_code
from core.permissions import require
from core.security import BadLink
from notifications import (
    deferred,
    permissions,  # noqa: F401 - registers the policy rules
    services,
)
from notifications.forms import EmptyForm, PreferencesForm
from notifications.models import Category, NotificationStatus

bp = Blueprint("notifications", __name__, template_folder="templates")
PER_PAGE = 30
OUTBOX_PER_PAGE = 50


@bp.app_context_processor
def inject_notification_state():
    """`unread_notifications()` for the bell and `mailbox_problem()` for the banner."""

    def unread_notifications() -> int:
        if not getattr(current_user, "is_authenticated", False):
            return 0
        if "unread_notifications" not in g:
            g.unread_notifications = services.unread_count(current_user)
        return g.unread_notifications

    def mailbox_problem():
        if not getattr(current_user, "is_authenticated", False):
            return None
        if "mailbox_problem" not in g:
            g.mailbox_problem = services.mailbox_problem(current_user)
        return g.mailbox_problem

    return {"unread_notifications": unread_notifications, "mailbox_problem": mailbox_problem}


def _search_arg() -> str:
    """The outbox search words: one line, at most 200 characters (longer is cut, not refused)."""
    return " ".join(request.args.get("q", "").split())[:200]


def _page_arg() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


# --- in-app centre -------------------------------------------------------------


@bp.get("/notifications")
@login_required
def inbox():
    """The person's notifications, newest first."""
    page = _page_arg()
    unread_only = request.args.get("unread") == "1"
    items, total = services.inbox(current_user, page=page, per_page=PER_PAGE, unread_only=unread_only)
    return render_template(
        "notifications/inbox.html",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        unread_only=unread_only,
        form=EmptyForm(),
    )


@bp.get("/notifications/<id:item_id>/open")
@login_required
def open_item(item_id: int):
    """Follow a notification to its object, marking it read."""
    try:
        item = services.mark_read(current_user, item_id)
    except DomainError:
        abort(404)
    return redirect(item.link or url_for("notifications.inbox"))


@bp.post("/notifications/<id:item_id>/read")
@login_required
def mark_read(item_id: int):
    """Mark one notification read."""
    if EmptyForm().validate_on_submit():
        try:
            services.mark_read(current_user, item_id)
        except DomainError:
            abort(404)
    return redirect(url_for("notifications.inbox", page=request.args.get("page")))


@bp.post("/notifications/read-all")
@login_required
def mark_all_read():
    """Mark every notification read."""
    if EmptyForm().validate_on_submit():
        count = services.mark_all_read(current_user)
        flash(
            ngettext("Marcamos %(num)s aviso como leído.", "Marcamos %(num)s avisos como leídos.", count),
            "success",
        )
    return redirect(url_for("notifications.inbox"))


# --- preferences and unsubscribe ------------------------------------------------------


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """Choose a channel per category."""
    current = services.preferences_of(current_user)
    form = PreferencesForm(data={str(category): str(channel) for category, channel in current.items()})
    if form.validate_on_submit():
        try:
            services.set_preferences(current_user, {c.value: form[c.value].data for c in Category})
        except DomainError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Guardamos tus preferencias de avisos."), "success")
            return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html",
        form=form,
        categories=list(Category),
    ), 422 if form.errors else 200


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    """RFC 8058 one-click unsubscribe: a POST (no login, no CSRF token) turns the
    message's categories off; a GET only shows what a click on the button will do."""
    try:
        _user, categories = services.read_unsubscribe_token(token)
    except BadLink:
        return render_template("notifications/unsubscribe.html", invalid=True), 404
    labels = [str(services.CATEGORY_LABELS[category]) for category in categories]
    if request.method == "POST":
        services.unsubscribe(token)
        return render_template("notifications/unsubscribe.html", done=True, labels=labels)
    return render_template("notifications/unsubscribe.html", labels=labels, token=token)


# --- mailbox problems -------------------------------------------------------------------


@bp.route("/notifications/mailbox", methods=["GET", "POST"])
@login_required
def mailbox():
    """Why mail stopped and how to resume it after fixing the mailbox."""
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            services.retry_mailbox(current_user)
        except DomainError as exc:
            flash(str(exc.message), "info")
        else:
            flash(_("Te enviamos un correo de prueba. Si llega, todo vuelve a la normalidad."), "success")
        return redirect(url_for("notifications.mailbox"))
    return render_template(
        "notifications/mailbox.html", problem=services.mailbox_problem(current_user), form=form
    )


# --- admin: outbox ---------------------------------------------------------------------


@bp.get("/admin/outbox")
@login_required
def outbox():
    """Delivery operations: search by recipient, subject or kind, filter by status and kind,
    see the last error, retry, withhold."""
    require(current_user, "notifications.outbox.manage")
    status = request.args.get("status", "")
    if status not in {s.value for s in NotificationStatus}:
        status = ""
    kind = request.args.get("kind", "")[:64]
    query = _search_arg()
    page = _page_arg()
    rows, total = services.outbox_rows(
        status=status or None,
        kind=kind or None,
        query=query or None,
        limit=OUTBOX_PER_PAGE,
        offset=(page - 1) * OUTBOX_PER_PAGE,
    )
    return render_template(
        "notifications/admin/outbox.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // OUTBOX_PER_PAGE)),
        status=status,
        kind=kind,
        query=query,
        kinds=services.outbox_kinds(),
        summary=services.outbox_summary(),
        ledger=services.ledger_summary(),
        statuses=list(NotificationStatus),
        status_labels=services.STATUS_LABELS,
        form=EmptyForm(),
    )


@bp.get("/admin/outbox/<id:notification_id>")
@login_required
def outbox_message(notification_id: int):
    """One outbox message: headers, last error and its text, secrets masked."""
    require(current_user, "notifications.outbox.manage")
    try:
        row = services.outbox_message(notification_id)
    except DomainError:
        abort(404)
    subject, body_text, render_problem = row.subject, row.body_text, None
    if row.render_refs is not None and row.status != NotificationStatus.sent:
        # Rendered at send time: show it as it would go out now (or why it cannot).
        rendered, render_problem = deferred.preview_stored(row)
        if rendered is not None:
            subject, body_text = rendered.subject, rendered.body_text
    # Link tokens (reset, verification, invitation, unsubscribe) are never shown to admins.
    return render_template(
        "notifications/admin/message.html",
        row=row,
        subject=subject,
        render_problem=render_problem,
        body_text=services.masked_for_admins(row, body_text),
        unsubscribe_url=services.masked_for_admins(row, row.unsubscribe_url),
        status_labels=services.STATUS_LABELS,
        form=EmptyForm(),
    )


def _back_to_outbox():
    return redirect(
        url_for(
            "notifications.outbox",
            status=request.form.get("status") or None,
            kind=request.form.get("kind") or None,
            q=request.form.get("q") or None,
        )
    )


@bp.post("/admin/outbox/<id:notification_id>/retry")
@login_required
def retry_message(notification_id: int):
    """Put a failed or withheld message back in the queue."""
    require(current_user, "notifications.outbox.manage")
    if EmptyForm().validate_on_submit():
        try:
            services.retry_notification(current_user, notification_id)
        except DomainError as exc:
            if exc.status == 404:
                abort(404)
            flash(str(exc.message), "error")
        else:
            flash(_("El mensaje %(id)s volvió a la cola.", id=notification_id), "success")
    return _back_to_outbox()


@bp.post("/admin/outbox/<id:notification_id>/withhold")
@login_required
def withhold_message(notification_id: int):
    """Keep a queued message from going out."""
    require(current_user, "notifications.outbox.manage")
    if EmptyForm().validate_on_submit():
        try:
            services.withhold_notification(current_user, notification_id)
        except DomainError as exc:
            if exc.status == 404:
                abort(404)
            flash(str(exc.message), "error")
        else:
            flash(_("El mensaje %(id)s quedó retenido.", id=notification_id), "success")
    return _back_to_outbox()


@bp.post("/admin/outbox/retry-failed")
@login_required
def retry_failed():
    """Re-queue every failed message (of the kind filtered, if any)."""
    require(current_user, "notifications.outbox.manage")
    if EmptyForm().validate_on_submit():
        count = services.retry_failed(current_user, kind=request.form.get("kind") or None)
        flash(
            ngettext(
                "%(num)s mensaje fallido volvió a la cola.",
                "%(num)s mensajes fallidos volvieron a la cola.",
                count,
            ),
            "success",
        )
    return _back_to_outbox()


# --- admin: email templates ------------------------------------------------------------


@bp.get("/admin/email-templates")
@login_required
def email_templates():
    """Every email template, with links to preview it in each language."""
    require(current_user, "notifications.templates.preview")
    return render_template("notifications/admin/templates.html", templates=services.email_templates())


def _preview_args():
    template = request.args.get("template", "")
    locale = request.args.get("locale") or current_locale_code()
    if locale not in ("es_MX", "en"):
        locale = "es_MX"
    try:
        return services.render_preview(template, locale=locale, timezone=current_user.timezone), locale
    except DomainError:
        abort(404)


@bp.get("/admin/email-templates/preview")
@login_required
def preview_template():
    """A template rendered with sample data: subject, plain text, and the HTML version."""
    require(current_user, "notifications.templates.preview")
    preview, locale = _preview_args()
    return render_template("notifications/admin/preview.html", preview=preview, locale=locale)


@bp.get("/admin/email-templates/raw")
@login_required
def raw_template():
    """The HTML version alone, as a mail client would show it (inline styles allowed)."""
    require(current_user, "notifications.templates.preview")
    preview, _locale = _preview_args()
    response = Response(preview.html or preview.error, mimetype="text/html")
    # Emails style themselves inline; allow that here only, and nothing else.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    )
    return response


# --- how notifications' actions read in the audit log -----------------------------------------

audit.describe_actions(
    {
        "mailbox.retry": _l("volvió a activar su correo"),
        "outbox.retry": _l("reintentó un correo"),
        "outbox.retry_failed": _l("reintentó los correos fallidos"),
        "outbox.withhold": _l("retuvo un correo"),
    }
)
audit.link_objects(
    "notification", lambda object_id: url_for("notifications.outbox_message", notification_id=int(object_id))
)
audit.name_objects({"notification": _l("correo"), "mailboxhealth": _l("buzón")})
