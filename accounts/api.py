"""JSON API of accounts: tokens, me, institutions and members (thin: services do the work)."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from accounts import services
from accounts.limits import limit_auth
from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.choices import GovernmentOrder, InstitutionRole
from core.exceptions import DomainError
from core.extensions import db
from core.images import accepts_image_uploads
from core.models import ApiToken, Institution
from core.permissions import can
from core.validation import SingleLineText

blp = ApiBlueprint(
    "accounts_api",
    __name__,
    description="Tokens, the signed-in person, institutions and their members.",
)
SECURED = [{"bearerAuth": []}]


class TokenRequestSchema(ma.Schema):
    email = ma.fields.Email(required=True, validate=[SingleLineText(), ma.validate.Length(max=254)])
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=256))
    name = ma.fields.String(load_default="API", validate=[SingleLineText(), ma.validate.Length(max=100)])


class NewTokenSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    token = ma.fields.String(metadata={"description": "Shown once; store it safely."})


class TokenSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String()
    created_at = ma.fields.DateTime()
    last_used_at = ma.fields.DateTime(allow_none=True)


class MembershipSchema(ma.Schema):
    institution = ma.fields.Function(lambda m: m.institution.slug)
    role = ma.fields.String()


class MeSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String()
    sector = ma.fields.String(allow_none=True)
    state = ma.fields.String(allow_none=True)
    locale = ma.fields.String()
    timezone = ma.fields.String()
    is_admin = ma.fields.Boolean()
    verified = ma.fields.Boolean(attribute="is_verified")
    memberships = ma.fields.List(ma.fields.Nested(MembershipSchema))


class InstitutionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    slug = ma.fields.String(
        required=True,
        validate=[
            SingleLineText(),
            ma.validate.Length(min=2, max=64),
            ma.validate.Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$"),
        ],
    )
    name = ma.fields.String(required=True, validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    acronym = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=32)])
    government_order = ma.fields.String(
        load_default="federal", validate=ma.validate.OneOf([o.value for o in GovernmentOrder])
    )
    timezone = ma.fields.String(load_default=None, validate=SingleLineText())
    website = ma.fields.Url(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=500)])
    catalogue_url = ma.fields.Url(
        allow_none=True, schemes={"http", "https"}, validate=[SingleLineText(), ma.validate.Length(max=500)]
    )
    catalogue_kind = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(["ckan", "dcat"]))
    catalogue_organization = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=100)]
    )
    answer_days = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=1, max=60),
        metadata={"description": "Mexican working days to give a first answer to a data request."},
    )
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=5000))
    logo = ma.fields.Function(
        lambda institution: services.logo_dict(institution),
        dump_only=True,
        metadata={
            "description": "The logo (re-encoded, without metadata): `url` and `thumbnail_url` (paths, "
            "cached as immutable), `width`, `height`; null when there is none. Set it with "
            "`PUT /institutions/<slug>/logo`."
        },
    )


class InstitutionPatchSchema(ma.Schema):
    """The editable fields of an institution; null clears an optional one."""

    name = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(min=1, max=200)])
    acronym = ma.fields.String(allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=32)])
    government_order = ma.fields.String(validate=ma.validate.OneOf([o.value for o in GovernmentOrder]))
    timezone = ma.fields.String(validate=[SingleLineText(), ma.validate.Length(max=64)])
    website = ma.fields.Url(
        allow_none=True, schemes={"http", "https"}, validate=[SingleLineText(), ma.validate.Length(max=500)]
    )
    catalogue_url = ma.fields.Url(
        allow_none=True, schemes={"http", "https"}, validate=[SingleLineText(), ma.validate.Length(max=500)]
    )
    catalogue_kind = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(["ckan", "dcat"]))
    catalogue_organization = ma.fields.String(
        allow_none=True, validate=[SingleLineText(), ma.validate.Length(max=100)]
    )
    answer_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=60))
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=5000))


class MemberSchema(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    name = ma.fields.Function(lambda m: m.user.name)
    email = ma.fields.Function(lambda m: m.user.email)
    role = ma.fields.String()


class InvitationRequestSchema(ma.Schema):
    email = ma.fields.Email(required=True, validate=[SingleLineText(), ma.validate.Length(max=254)])
    role = ma.fields.String(required=True, validate=ma.validate.OneOf([r.value for r in InstitutionRole]))


class InvitationSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    role = ma.fields.String()
    expires_at = ma.fields.DateTime()


def _domain_abort(exc: DomainError):
    fields = {exc.field: [str(exc.message)]} if exc.field else None
    api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)


def _institution_or_404(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        api_abort(404, _("No existe la institución '%(slug)s'.", slug=slug))
    return institution


def _require(action: str, obj=None) -> None:
    if not can(api_user(), action, obj):
        api_abort(403, _("No se te permite hacer esto."))


@blp.route("/tokens")
class Tokens(MethodView):
    decorators = [limit_auth]

    @blp.arguments(TokenRequestSchema)
    @blp.response(201, NewTokenSchema)
    @blp.alt_response(
        403, response="FORBIDDEN", description="`email_not_verified`: the address is not confirmed yet."
    )
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, payload):
        """Exchange email and password for a bearer token."""
        user = services.authenticate(payload["email"], payload["password"])
        if user is None:
            api_abort(401, _("El correo o la contraseña son incorrectos."), code="invalid_credentials")
        try:
            token, raw = services.issue_api_token(user, payload.get("name") or "API")
        except DomainError as exc:
            _domain_abort(exc)  # 403 email_not_verified: confirm the address first
        return {"id": token.id, "name": token.name, "token": raw}

    @blp.doc(security=SECURED)
    @blp.response(200, TokenSchema(many=True))
    @auth_required
    def get(self):
        """My active tokens (never their values)."""
        return services.active_tokens(api_user())


@blp.route("/tokens/<id:token_id>")
class TokenItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self, token_id: int):
        """Revoke one of my tokens (someone else's answers exactly like one that does not exist)."""
        token = db.session.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None or not can(api_user(), "token.revoke", token):
            api_abort(404, _("No existe ese token."))
        services.revoke_api_token(api_user(), token)


@blp.route("/me")
class Me(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, MeSchema)
    @auth_required
    def get(self):
        """The person the token belongs to."""
        return api_user()


@blp.route("/institutions")
class Institutions(MethodView):
    @blp.response(200, InstitutionSchema(many=True))
    def get(self):
        """All institutions (public)."""
        return db.session.execute(select(Institution).order_by(Institution.name)).scalars().all()

    @blp.doc(security=SECURED)
    @blp.arguments(InstitutionSchema)
    @blp.response(201, InstitutionSchema)
    @auth_required
    def post(self, payload):
        """Register an institution (platform admins)."""
        _require("institution.create")
        slug = payload.pop("slug")
        payload["timezone"] = payload.get("timezone") or current_app.config["DEFAULT_TIMEZONE"]
        try:
            return services.create_institution(api_user(), slug=slug, **payload)
        except DomainError as exc:
            _domain_abort(exc)


@blp.route("/institutions/<slug>")
class InstitutionItem(MethodView):
    @blp.response(200, InstitutionSchema)
    def get(self, slug: str):
        """One institution (public)."""
        return _institution_or_404(slug)

    @blp.doc(security=SECURED)
    @blp.arguments(InstitutionPatchSchema)
    @blp.response(200, InstitutionSchema)
    @auth_required
    def patch(self, payload, slug: str):
        """Edit an institution's details, its catalogue among them (its liaisons, and admins)."""
        institution = _institution_or_404(slug)
        _require("institution.edit", institution)
        if "name" in payload and not (payload["name"] or "").strip():
            api_abort(
                422,
                _("La solicitud tiene campos no válidos."),
                fields={"name": [_("El nombre no puede quedar vacío.")]},
            )
        # null clears an optional field; the service reads "" as "clear" and None as "unchanged".
        fields = {key: ("" if value is None else value) for key, value in payload.items()}
        try:
            services.update_institution(api_user(), institution, **fields)
        except DomainError as exc:
            db.session.rollback()
            _domain_abort(exc)
        return institution


LOGO_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["logo"],
                "properties": {"logo": {"type": "string", "format": "binary"}},
            }
        }
    },
}


@blp.route("/institutions/<slug>/logo")
class InstitutionLogo(MethodView):
    @blp.doc(security=SECURED, requestBody=LOGO_BODY)
    @blp.response(200, InstitutionSchema)
    @auth_required
    def put(self, slug: str):
        """Set or replace the institution's logo: `multipart/form-data` with the file in `logo`.

        Like every picture: checked by its content (JPEG, PNG or WebP), turned upright, resized
        (1600 px wide at most, plus a 640 px thumbnail) and re-encoded without its metadata.
        422 names `logo`; 413 when the file is over 8 MB.
        """
        institution = _institution_or_404(slug)
        _require("institution.edit", institution)
        if not request.content_length and request.mimetype != "multipart/form-data":
            api_abort(400, _("Esta solicitud necesita un cuerpo multipart/form-data con el campo 'logo'."))
        if request.mimetype != "multipart/form-data":
            api_abort(415, _("Envía multipart/form-data con el archivo en el campo 'logo'."))
        upload = request.files.get("logo")
        try:
            services.update_institution(api_user(), institution, logo=upload.read() if upload else b"")
        except DomainError as exc:
            db.session.rollback()
            _domain_abort(exc)
        return institution

    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self, slug: str):
        """Take the logo off (the picture is deleted)."""
        institution = _institution_or_404(slug)
        _require("institution.edit", institution)
        services.update_institution(api_user(), institution, remove_logo=True)


accepts_image_uploads("accounts_api.InstitutionLogo")


class FollowSchema(ma.Schema):
    following = ma.fields.Boolean()


@blp.route("/institutions/<slug>/follow")
class InstitutionFollowItem(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, FollowSchema)
    @blp.alt_response(201, schema=FollowSchema, description="Now following.")
    @auth_required
    def post(self, slug: str):
        """Follow an institution (told when it opens a survey or a challenge); 200 if already."""
        institution = _institution_or_404(slug)
        created = services.follow_institution(api_user(), institution)
        return {"following": True}, 201 if created else 200

    @blp.doc(security=SECURED)
    @blp.response(204)
    @auth_required
    def delete(self, slug: str):
        """Stop following an institution."""
        services.unfollow_institution(api_user(), _institution_or_404(slug))


@blp.route("/institutions/<slug>/members")
class Members(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(200, MemberSchema(many=True))
    @auth_required
    def get(self, slug: str):
        """The institution's members (its liaisons and staff, and admins)."""
        institution = _institution_or_404(slug)
        _require("institution.members.view", institution)
        return services.members_of(institution)


@blp.route("/institutions/<slug>/invitations")
class Invitations(MethodView):
    @blp.doc(security=SECURED)
    @blp.arguments(InvitationRequestSchema)
    @blp.response(201, InvitationSchema)
    @auth_required
    def post(self, payload, slug: str):
        """Invite someone by email (the institution's liaisons, and admins)."""
        institution = _institution_or_404(slug)
        _require("institution.members.manage", institution)
        try:
            return services.invite_member(api_user(), institution, payload["email"], payload["role"])
        except DomainError as exc:
            _domain_abort(exc)
