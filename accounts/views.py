"""HTML pages of accounts, profile, institutions and memberships (thin: services do the work)."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from accounts import credentials, services
from accounts.forms import (
    ChangePasswordForm,
    ConfirmForm,
    DeleteAccountForm,
    EmailOnlyForm,
    InstitutionForm,
    InviteForm,
    LoginForm,
    ProfileForm,
    ResetPasswordForm,
    RoleForm,
    SignUpForm,
    TokenForm,
)
from accounts.limits import limit_auth
from accounts.models import Invitation
from core import audit
from core.choices import GOVERNMENT_ORDER_LABELS, ROLE_LABELS, SECTOR_LABELS
from core.exceptions import DomainError
from core.extensions import db
from core.i18n import current_locale_code
from core.images import accepts_image_uploads
from core.models import ApiToken, Institution, Membership
from core.pages import safe_next
from core.permissions import can, require
from core.security import BadLink

bp = Blueprint("accounts", __name__, template_folder="templates")


def show_domain_error(form, exc: DomainError) -> None:
    """Attach a service refusal to its form field, or flash it."""
    if exc.field and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, str(exc.message)]
    else:
        flash(str(exc.message), "error")


def _institution_or_404(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        abort(404)
    return institution


# --- sign-up, verification, login --------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@limit_auth
def signup():
    """Create an account; answers the same whether or not the email is taken."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.profile"))
    form = SignUpForm()
    if form.validate_on_submit():
        data = services.SignUp(
            name=form.name.data,
            email=form.email.data,
            password=form.password.data,
            sector=form.sector.data,
            state=form.state.data,
            accepted_privacy=form.accept_privacy.data,
            locale=current_locale_code(),
            timezone=current_app.config["DEFAULT_TIMEZONE"],
        )
        try:
            services.sign_up(data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            return render_template(
                "accounts/check_email.html", email=services.normalise_email(form.email.data)
            )
    return render_template("accounts/signup.html", form=form), 200 if not form.errors else 422


@bp.get("/verify/<token>")
def verify_email(token: str):
    """Follow the link from the verification email."""
    try:
        user = services.verify_email(token)
    except BadLink as exc:
        message = (
            _("El enlace de verificación caducó. Te enviamos uno nuevo si lo pides abajo.")
            if exc.expired
            else _("El enlace de verificación no es válido.")
        )
        flash(message, "error")
        return redirect(url_for("accounts.resend_verification"))
    flash(_("¡Listo! Tu correo %(email)s quedó verificado.", email=user.email), "success")
    if current_user.is_authenticated:
        return redirect(url_for("accounts.profile"))
    return redirect(url_for("accounts.login"))


@bp.route("/verify/resend", methods=["GET", "POST"])
@limit_auth
def resend_verification():
    """Ask for a new verification link."""
    form = EmailOnlyForm()
    if form.validate_on_submit():
        services.queue_verification_resend(form.email.data)
        return render_template("accounts/check_email.html", email=services.normalise_email(form.email.data))
    return render_template("accounts/resend.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limit_auth
def login():
    """Sign in with email and password; a new session is started."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors = [_("El correo o la contraseña no son correctos.")]
        else:
            next_url = safe_next(request.args.get("next"), url_for("core.home"))
            _sign_in(user, remember=form.remember.data)
            flash(_("Hola, %(name)s.", name=user.name), "success")
            return redirect(next_url)
    status = 422 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


def _sign_in(user, *, remember: bool) -> None:
    """Start a fresh session record and cookie for this browser: nothing from before carries over."""
    language = session.get("locale")
    session.clear()
    if language:
        session["locale"] = language
    agent = request.headers.get("User-Agent", "")
    credentials.start_session(user, remember=remember, user_agent=agent, ip=request.remote_addr or "")
    login_user(user, remember=remember)
    session.permanent = True


def _sign_out() -> None:
    """Forget this browser's session (its record is ended by the caller, or already gone)."""
    language = session.get("locale")
    session.clear()
    logout_user()  # after clear(): it leaves the order to delete a remember-me cookie
    if language:
        session["locale"] = language


@bp.post("/logout")
def logout():
    """Sign out: the session record ends, so a copy of the cookies stops working too."""
    if current_user.is_authenticated:
        credentials.end_session(current_user.current_session)
    _sign_out()
    flash(_("Cerraste tu sesión."), "info")
    return redirect(url_for("core.home"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limit_auth
def forgot_password():
    """Request a reset link; the answer never reveals whether the account exists."""
    form = EmailOnlyForm()
    if form.validate_on_submit():
        try:
            # Only queued here: the worker looks the address up after this answer.
            services.queue_password_reset(form.email.data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            return render_template(
                "accounts/reset_sent.html", email=services.normalise_email(form.email.data)
            )
    return render_template("accounts/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limit_auth
def reset_password(token: str):
    """Choose a new password from a single-use link."""
    try:
        services.user_for_reset(token)
    except BadLink as exc:
        flash(
            _("El enlace para restablecer la contraseña caducó; pide uno nuevo.")
            if exc.expired
            else _("El enlace para restablecer la contraseña no es válido o ya se usó; pide uno nuevo."),
            "error",
        )
        return redirect(url_for("accounts.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            _sign_out()
            flash(
                _(
                    "Tu contraseña cambió. Cerramos todas tus sesiones y revocamos tus tokens de la API "
                    "y tu enlace privado de calendario; puedes crear nuevos. Ya puedes iniciar sesión."
                ),
                "success",
            )
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form)


# --- profile and ARCO ----------------------------------------------------------


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Edit name, language, time zone and sector."""
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user,
                name=form.name.data,
                locale=form.locale.data,
                timezone=form.timezone.data,
                sector=form.sector.data,
                state=form.state.data,
            )
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            session["locale"] = form.locale.data
            flash(_("Guardamos tu perfil."), "success")
            return redirect(url_for("accounts.profile"))
    return _profile_page(form, ChangePasswordForm())


def _profile_page(form, password_form, status: int = 200):
    return render_template(
        "accounts/profile.html",
        form=form,
        password_form=password_form,
        resend_form=ConfirmForm(),
        sessions_form=ConfirmForm(),
        sessions=credentials.active_sessions(current_user),
        this_session=current_user.current_session,
        sector_labels=SECTOR_LABELS,
    ), status


@bp.post("/profile/password")
@login_required
@limit_auth
def change_password():
    """Change the password: every session and token ends; this browser gets a fresh session."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        remember = bool(user.current_session and user.current_session.remember)
        try:
            services.change_password(user, form.current_password.data, form.new_password.data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            # Every session ended, this one too (its cookie may have been copied): a fresh one.
            _sign_in(user, remember=remember)
            flash(
                _(
                    "Tu contraseña cambió. Cerramos tus sesiones en los demás dispositivos y revocamos "
                    "tus tokens de la API y tu enlace privado de calendario; puedes crear nuevos."
                ),
                "success",
            )
            return redirect(url_for("accounts.profile"))
    return _profile_page(ProfileForm(obj=current_user), form, 422)


@bp.post("/profile/sessions/others/end")
@login_required
def end_other_sessions():
    """Sign out every other browser signed in to my account."""
    if ConfirmForm().validate_on_submit():
        ended = credentials.end_other_sessions(current_user, keep=current_user.current_session)
        flash(
            ngettext(
                "Cerramos %(num)s sesión en otro dispositivo.",
                "Cerramos %(num)s sesiones en otros dispositivos.",
                ended,
            ),
            "success",
        )
    return redirect(url_for("accounts.profile", _anchor="sessions-title"))


@bp.post("/profile/sessions/<id:session_id>/end")
@login_required
def end_session(session_id: int):
    """Sign out one of my browsers (this one too, if chosen)."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("accounts.profile"))
    try:
        record = credentials.end_session_of(current_user, session_id)
    except DomainError:
        abort(404)
    if current_user.current_session is not None and record.id == current_user.current_session.id:
        _sign_out()
        flash(_("Cerraste tu sesión."), "info")
        return redirect(url_for("core.home"))
    flash(_("Cerramos la sesión de %(device)s.", device=record.device or _("un dispositivo")), "success")
    return redirect(url_for("accounts.profile", _anchor="sessions-title"))


@bp.post("/profile/verify")
@login_required
@limit_auth
def send_verification_again():
    """Send the signed-in person a new verification link."""
    if ConfirmForm().validate_on_submit():
        services.resend_verification(current_user.email)
        flash(_("Te enviamos un nuevo enlace de verificación a %(email)s.", email=current_user.email), "info")
    return redirect(url_for("accounts.profile"))


@bp.get("/profile/data.json")
@login_required
def download_data():
    """Download everything held about me as JSON (ARCO: access)."""
    data = services.export_personal_data(current_user)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="promueve-mis-datos.json"'},
    )


@bp.route("/profile/delete", methods=["GET", "POST"])
@login_required
@limit_auth
def delete_account():
    """Delete my account: personal data erased, anonymous counts kept (ARCO: cancel)."""
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            services.delete_account(current_user, form.password.data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            _sign_out()
            flash(_("Eliminamos tu cuenta y tus datos personales."), "success")
            return redirect(url_for("core.home"))
    return render_template("accounts/delete.html", form=form)


@bp.route("/profile/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """List, create and revoke personal API tokens."""
    form = TokenForm()
    new_token = None
    status = 200
    if form.validate_on_submit():
        try:
            _, new_token = services.issue_api_token(current_user, form.name.data)
        except DomainError as exc:
            flash(str(exc.message), "error")
            status = exc.status
        else:
            form = TokenForm(formdata=None)
    return render_template(
        "accounts/tokens.html",
        form=form,
        tokens=services.active_tokens(current_user),
        new_token=new_token,
    ), status


@bp.route("/profile/tokens/<id:token_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of my tokens after a confirmation step (someone else's answers exactly like
    one that does not exist)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or not can(current_user, "token.revoke", token):
        abort(404)
    form = ConfirmForm()
    if request.method == "GET" and token.revoked_at is not None:
        flash(_("Ese token ya estaba revocado."), "info")
        return redirect(url_for("accounts.tokens"))
    if request.method == "GET":
        return render_template(
            "core/confirm.html",
            heading=_("¿Revocar el token «%(name)s»?", name=token.name),
            consequences=[
                _(
                    "Los programas que lo usan (empieza con %(prefix)s…) dejarán de tener acceso "
                    "de inmediato.",
                    prefix=token.prefix,
                ),
                _("No se puede deshacer: para volver a conectarlos tendrás que crear un token nuevo."),
            ],
            action=url_for("accounts.revoke_token", token_id=token.id),
            form=form,
            confirm_label=_("Sí, revocar el token"),
            back_url=url_for("accounts.tokens"),
        )
    if form.validate_on_submit():
        services.revoke_api_token(current_user, token)
        flash(_("Revocaste el token «%(name)s».", name=token.name), "success")
    return redirect(url_for("accounts.tokens"))


# --- institutions ----------------------------------------------------------------


@bp.get("/institutions")
def institutions():
    """Public list of institutions."""
    rows = db.session.execute(select(Institution).order_by(Institution.name)).scalars()
    return render_template(
        "accounts/institutions.html", institutions=list(rows), orders=GOVERNMENT_ORDER_LABELS
    )


def _institution_fields(form: InstitutionForm) -> dict:
    fields = {
        "name": form.name.data,
        "acronym": form.acronym.data or "",
        "government_order": form.government_order.data,
        "timezone": form.timezone.data,
        "website": form.website.data or "",
        "catalogue_url": form.catalogue_url.data or "",
        "catalogue_kind": form.catalogue_kind.data or "",
        "catalogue_organization": form.catalogue_organization.data or "",
        "description": form.description.data or "",
    }
    if getattr(form.logo, "processed", None) is not None:
        fields["logo"] = form.logo.processed
    elif form.remove_logo.data:
        fields["remove_logo"] = True
    return fields


@bp.route("/institutions/new", methods=["GET", "POST"])
@login_required
def new_institution():
    """A platform admin registers an institution."""
    require(current_user, "institution.create")
    form = InstitutionForm()
    if request.method == "GET":
        form.timezone.data = current_app.config["DEFAULT_TIMEZONE"]
    if form.validate_on_submit():
        try:
            institution = services.create_institution(
                current_user, slug=form.slug.data, **_institution_fields(form)
            )
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            flash(_("Registraste %(name)s.", name=institution.name), "success")
            return redirect(url_for("accounts.institution", slug=institution.slug))
    return render_template(
        "accounts/institution_form.html", form=form, institution=None
    ), 422 if form.errors else 200


@bp.get("/institutions/<slug>")
def institution(slug: str):
    """Public page of an institution."""
    institution = _institution_or_404(slug)
    liaisons = [m for m in services.members_of(institution) if m.role == "liaison"]
    following = current_user.is_authenticated and services.follows(current_user, institution)
    return render_template(
        "accounts/institution.html",
        institution=institution,
        liaisons=liaisons,
        orders=GOVERNMENT_ORDER_LABELS,
        following=following,
        follow_form=ConfirmForm(),
    )


@bp.post("/institutions/<slug>/follow")
@login_required
def follow_institution(slug: str):
    """Follow or stop following an institution (one button that toggles)."""
    institution = _institution_or_404(slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if request.form.get("action") == "unfollow":
        services.unfollow_institution(current_user, institution)
        flash(_("Ya no sigues a %(name)s.", name=institution.name), "success")
    else:
        services.follow_institution(current_user, institution)
        flash(
            _("Sigues a %(name)s: te avisaremos de sus encuestas y retos.", name=institution.name), "success"
        )
    return redirect(url_for("accounts.institution", slug=institution.slug))


@bp.get("/institutions/<slug>/logo")
def institution_logo(slug: str):
    """The institution's logo: a redirect to its current picture (whose own address never
    changes, so it is cached for good), for links made before it moved there."""
    institution = _institution_or_404(slug)
    if institution.logo is None:
        abort(404)
    return redirect(institution.logo.path)


@bp.route("/institutions/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit_institution(slug: str):
    """Liaisons and admins edit the institution's public details."""
    institution = _institution_or_404(slug)
    require(current_user, "institution.edit", institution)
    form = InstitutionForm(obj=institution)
    form.slug.data = institution.slug
    if form.validate_on_submit():
        try:
            services.update_institution(current_user, institution, **_institution_fields(form))
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            flash(_("Guardamos los cambios."), "success")
            return redirect(url_for("accounts.institution", slug=institution.slug))
    return render_template(
        "accounts/institution_form.html", form=form, institution=institution
    ), 422 if form.errors else 200


@bp.route("/institutions/<slug>/members", methods=["GET", "POST"])
@login_required
def members(slug: str):
    """See the institution's team; liaisons invite and manage members."""
    institution = _institution_or_404(slug)
    require(current_user, "institution.members.view", institution)
    form = InviteForm()
    if request.method == "POST":
        require(current_user, "institution.members.manage", institution)
        if form.validate_on_submit():
            try:
                services.invite_member(current_user, institution, form.email.data, form.role.data)
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                flash(_("Enviamos la invitación a %(email)s.", email=form.email.data), "success")
                return redirect(url_for("accounts.members", slug=slug))
    return render_template(
        "accounts/members.html",
        institution=institution,
        members=services.members_of(institution),
        invitations=services.open_invitations(institution),
        form=form,
        confirm_form=ConfirmForm(),
        role_labels=ROLE_LABELS,
    ), 422 if form.errors else 200


def _membership_or_404(institution: Institution, membership_id: int) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.institution_id != institution.id:
        abort(404)
    return membership


@bp.post("/institutions/<slug>/members/<id:membership_id>/role")
@login_required
def change_role(slug: str, membership_id: int):
    """Change a member's role."""
    institution = _institution_or_404(slug)
    require(current_user, "institution.members.manage", institution)
    membership = _membership_or_404(institution, membership_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            services.change_member_role(current_user, membership, form.role.data)
        except DomainError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Cambiamos el rol de %(name)s.", name=membership.user.name), "success")
    return redirect(url_for("accounts.members", slug=slug))


@bp.route("/institutions/<slug>/members/<id:membership_id>/remove", methods=["GET", "POST"])
@login_required
def remove_member(slug: str, membership_id: int):
    """Remove a member from the institution, after a step that says what they lose."""
    institution = _institution_or_404(slug)
    require(current_user, "institution.members.manage", institution)
    membership = _membership_or_404(institution, membership_id)
    form = ConfirmForm()
    name = membership.user.name
    if request.method == "GET":
        role = ROLE_LABELS.get(membership.role, membership.role)
        consequences = [
            _(
                "%(name)s dejará de ser parte de %(institution)s (hoy con el rol %(role)s).",
                name=name,
                role=role,
                institution=institution.display_name,
            ),
            _(
                "Ya no podrá crear ni gestionar las actividades de la institución, ni responder en su "
                "nombre; lo que ya hizo se conserva."
            ),
            _("Su cuenta sigue activa. Si fue un error, podrás invitarla de nuevo."),
        ]
        if membership.user_id == current_user.id:
            consequences.insert(0, _("Eres tú: perderás el acceso a la gestión de esta institución."))
        return render_template(
            "core/confirm.html",
            heading=_("¿Quitar a %(name)s del equipo?", name=name),
            consequences=consequences,
            action=url_for("accounts.remove_member", slug=slug, membership_id=membership.id),
            form=form,
            confirm_label=_("Sí, quitar del equipo"),
            back_url=url_for("accounts.members", slug=slug),
        )
    if form.validate_on_submit():
        try:
            services.remove_member(current_user, membership)
        except DomainError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("%(name)s ya no es parte de la institución.", name=name), "success")
    return redirect(url_for("accounts.members", slug=slug))


@bp.post("/institutions/<slug>/invitations/<id:invitation_id>/revoke")
@login_required
def revoke_invitation(slug: str, invitation_id: int):
    """Withdraw a pending invitation."""
    institution = _institution_or_404(slug)
    require(current_user, "institution.members.manage", institution)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.institution_id != institution.id:
        abort(404)
    if ConfirmForm().validate_on_submit():
        services.revoke_invitation(current_user, invitation)
        flash(_("Retiraste la invitación a %(email)s.", email=invitation.email), "success")
    return redirect(url_for("accounts.members", slug=slug))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    """Accept an invitation to an institution (sign in with the invited email first)."""
    try:
        invitation = services.invitation_for(token)
    except DomainError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("core.home"))
    form = ConfirmForm()
    if current_user.is_authenticated and form.validate_on_submit():
        try:
            services.accept_invitation(current_user, token)
        except DomainError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Ya eres parte de %(name)s.", name=invitation.institution.name), "success")
            return redirect(url_for("accounts.members", slug=invitation.institution.slug))
    account_exists = services.find_user(invitation.email) is not None
    return render_template(
        "accounts/invitation.html",
        invitation=invitation,
        form=form,
        account_exists=account_exists,
        role_labels=ROLE_LABELS,
    )


@bp.get("/admin/audit")
@login_required
def audit_log():
    """The audit log, newest first, paginated and filterable (platform admins)."""
    from datetime import date

    from core.i18n import select_timezone

    require(current_user, "audit.read")
    institution_slug = request.args.get("institution") or None
    institution_id = None
    if institution_slug:
        institution_id = _institution_or_404(institution_slug).id

    def day(name: str):
        try:
            return date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return None

    action = request.args.get("action") or None
    filters = services.AuditFilters(
        institution_id=institution_id,
        actor=(request.args.get("actor") or "").strip()[:200] or None,
        action=action[:64] if action else None,
        since=day("since"),
        until=day("until"),
    )
    try:
        page_number = max(1, min(int(request.args.get("page", 1)), 100000))
    except ValueError:
        page_number = 1
    page = services.audit_entries(filters, page_number, zone=select_timezone())
    all_institutions = db.session.execute(select(Institution).order_by(Institution.name)).scalars()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "accounts/audit.html",
        page=page,
        filters=filters,
        args=args,
        actions=audit.known_actions(),
        action_label=audit.action_label,
        object_link=audit.object_link,
        object_name=audit.object_name,
        detail_label=audit.detail_label,
        detail_value=audit.detail_value,
        institutions=list(all_institutions),
        selected=institution_slug,
    )


# --- how accounts' actions read in the audit log ----------------------------------------------

audit.describe_actions(
    {
        "api_token.create": _l("creó un token de la API"),
        "api_token.revoke": _l("revocó un token de la API"),
        "institution.create": _l("registró la institución"),
        "institution.update": _l("editó la institución"),
        "member.add": _l("agregó a una persona a la institución"),
        "member.invite": _l("invitó a una persona a la institución"),
        "member.join": _l("se unió a la institución"),
        "member.remove": _l("quitó a una persona de la institución"),
        "member.role_change": _l("cambió el rol de una persona"),
        "invitation.revoke": _l("revocó una invitación"),
        "user.admin_grant": _l("dio permisos de administración"),
        "user.delete": _l("eliminó su cuenta"),
        "sessions.end_others": _l("cerró sus sesiones en otros dispositivos"),
        "credentials.revoke": _l("revocó sus sesiones y tokens"),
    }
)


_MEMBER_ACTIONS = ("member.add", "member.invite", "member.join", "member.remove")
audit.describe_values(_MEMBER_ACTIONS, "role", ROLE_LABELS)
audit.describe_values(["member.role_change"], "from", ROLE_LABELS)
audit.describe_values(["member.role_change"], "to", ROLE_LABELS)
audit.describe_values(["member.remove"], "reason", {"account deleted": _l("Cuenta eliminada")})
audit.describe_values(
    ["credentials.revoke"],
    "reason",
    {
        credentials.EndReason.password_changed: _l("Cambio de contraseña"),
        credentials.EndReason.password_reset: _l("Restablecimiento de contraseña"),
    },
)


def _institution_link(object_id: str) -> str | None:
    institution = db.session.get(Institution, int(object_id))
    return url_for("accounts.institution", slug=institution.slug) if institution is not None else None


audit.link_objects("institution", _institution_link)
audit.name_objects(
    {
        "institution": _l("institución"),
        "user": _l("cuenta"),
        "membership": _l("membresía"),
        "invitation": _l("invitación"),
        "apitoken": _l("token de la API"),
    }
)


accepts_image_uploads("accounts.new_institution", "accounts.edit_institution")
