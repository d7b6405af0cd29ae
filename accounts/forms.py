"""Forms of the accounts domain (labels and messages in es-MX via Babel)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

from core.choices import (
    CATALOGUE_KIND_LABELS,
    GOVERNMENT_ORDER_LABELS,
    LOCALES,
    MEXICAN_STATES,
    ROLE_LABELS,
    SECTOR_LABELS,
)
from core.i18n import timezone_choices
from core.images import ImageUpload
from core.security import password_problem
from core.timeutil import is_valid_timezone
from core.validation import SingleLine

REQUIRED = _l("Este campo es obligatorio.")
EMAIL_INVALID = _l("Escribe un correo electrónico válido.")


def options(pairs) -> list[SelectChoice]:
    """WTForms select options from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def _sector_choices():
    return options([("", _l("Elige tu sector")), *SECTOR_LABELS.items()])


def _state_choices():
    return options([("", _l("Prefiero no decirlo"))] + [(state, state) for state in MEXICAN_STATES])


def _timezone_choices():
    return timezone_choices()


def _order_choices():
    return options(GOVERNMENT_ORDER_LABELS.items())


def _role_choices():
    return options(ROLE_LABELS.items())


class NewPassword:
    """WTForms validator applying the password policy."""

    def __init__(self, email_field: str | None = "email"):
        self.email_field = email_field

    def __call__(self, form, field):
        email = ""
        if self.email_field and self.email_field in form:
            email = form[self.email_field].data or ""
        problem = password_problem(field.data or "", email=email)
        if problem:
            raise ValidationError(str(problem))


def _timezone_valid(form, field):
    if not is_valid_timezone(field.data or ""):
        raise ValidationError(_l("Elige una zona horaria válida."))


class SignUpForm(FlaskForm):
    name = StringField(
        _l("Nombre completo"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)]
    )
    email = EmailField(
        _l("Correo electrónico"), validators=[DataRequired(REQUIRED), Email(EMAIL_INVALID), Length(max=254)]
    )
    password = PasswordField(
        _l("Contraseña"),
        validators=[DataRequired(REQUIRED), NewPassword()],
        description=_l("Al menos 10 caracteres. Evita contraseñas comunes."),
    )
    sector = SelectField(
        _l("Sector"), choices=_sector_choices, validators=[DataRequired(_l("Elige tu sector."))]
    )
    state = SelectField(_l("Entidad federativa (opcional)"), choices=_state_choices, validators=[Optional()])
    accept_privacy = BooleanField(
        _l("He leído y acepto el aviso de privacidad"),
        validators=[DataRequired(_l("Debes aceptar el aviso de privacidad."))],
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("Correo electrónico"), validators=[DataRequired(REQUIRED), Email(EMAIL_INVALID)])
    password = PasswordField(_l("Contraseña"), validators=[DataRequired(REQUIRED)])
    remember = BooleanField(_l("Mantener la sesión iniciada en este equipo"))


class EmailOnlyForm(FlaskForm):
    email = EmailField(_l("Correo electrónico"), validators=[DataRequired(REQUIRED), Email(EMAIL_INVALID)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("Nueva contraseña"),
        validators=[DataRequired(REQUIRED), NewPassword(email_field=None)],
        description=_l("Al menos 10 caracteres. Evita contraseñas comunes."),
    )
    confirm = PasswordField(
        _l("Confirma la nueva contraseña"),
        validators=[DataRequired(REQUIRED), EqualTo("password", _l("Las contraseñas no coinciden."))],
    )


class ProfileForm(FlaskForm):
    name = StringField(
        _l("Nombre completo"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)]
    )
    sector = SelectField(
        _l("Sector"), choices=_sector_choices, validators=[DataRequired(_l("Elige tu sector."))]
    )
    state = SelectField(_l("Entidad federativa (opcional)"), choices=_state_choices, validators=[Optional()])
    locale = SelectField(_l("Idioma"), choices=lambda: options(LOCALES.items()))
    timezone = SelectField(_l("Zona horaria"), choices=_timezone_choices, validators=[_timezone_valid])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Contraseña actual"), validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(
        _l("Nueva contraseña"),
        validators=[DataRequired(REQUIRED), NewPassword(email_field=None)],
        description=_l("Al menos 10 caracteres. Evita contraseñas comunes."),
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Tu contraseña, para confirmar"), validators=[DataRequired(REQUIRED)])
    confirm = BooleanField(
        _l("Entiendo que mis datos personales se borrarán y no podré recuperar la cuenta"),
        validators=[DataRequired(_l("Confirma que entiendes lo que pasará."))],
    )


class TokenForm(FlaskForm):
    name = StringField(
        _l("Nombre del token"),
        validators=[DataRequired(REQUIRED), SingleLine(), Length(max=100)],
        description=_l("Para reconocerlo después, p. ej. «script de reportes»."),
    )


class InstitutionForm(FlaskForm):
    name = StringField(_l("Nombre"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)])
    acronym = StringField(_l("Siglas"), validators=[Optional(), SingleLine(), Length(max=32)])
    slug = StringField(
        _l("Identificador en la dirección web"),
        validators=[
            DataRequired(REQUIRED),
            SingleLine(),
            Length(min=2, max=64),
            Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", message=_l("Usa solo minúsculas, números y guiones.")),
        ],
        description=_l("Por ejemplo «inegi»; aparece en /institutions/inegi."),
    )
    government_order = SelectField(
        _l("Orden de gobierno"),
        choices=_order_choices,
    )
    timezone = SelectField(
        _l("Zona horaria predeterminada"), choices=_timezone_choices, validators=[_timezone_valid]
    )
    website = StringField(
        _l("Sitio web"),
        validators=[
            Optional(),
            SingleLine(),
            URL(message=_l("Escribe una dirección web completa, con https://.")),
            Length(max=500),
        ],
    )
    catalogue_url = StringField(
        _l("Catálogo de datos abiertos"),
        validators=[
            Optional(),
            SingleLine(),
            URL(message=_l("Escribe una dirección web completa, con https://.")),
            Length(max=500),
        ],
        description=_l("Por ejemplo, su página en datos.gob.mx."),
    )
    catalogue_kind = SelectField(
        _l("Tipo de catálogo"),
        choices=lambda: options([("", _l("Sin importar sus datos")), *CATALOGUE_KIND_LABELS.items()]),
        validators=[Optional()],
        description=_l(
            "Con el tipo, Promueve trae cada día los conjuntos de datos del catálogo. En DCAT, la dirección "
            "es la de su data.json (o la del sitio que lo publica en /data.json)."
        ),
    )
    catalogue_organization = StringField(
        _l("Organización en el catálogo CKAN"),
        validators=[
            Optional(),
            SingleLine(),
            Length(max=100),
            Regexp(
                r"^[a-z0-9_-]+$",
                message=_l("Usa el nombre corto de la organización en CKAN: minúsculas, números, «-» y «_»."),
            ),
        ],
        description=_l("El nombre corto que aparece en la dirección, p. ej. «salud» en /organization/salud."),
    )
    description = TextAreaField(_l("Descripción"), validators=[Optional(), Length(max=5000)])
    logo = FileField(
        _l("Logotipo (opcional)"),
        validators=[ImageUpload()],
        description=_l("JPEG, PNG o WebP de hasta 8 MB. Se guarda sin sus metadatos (ubicación, cámara)."),
    )
    remove_logo = BooleanField(_l("Quitar el logotipo"))

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then the catalogue settings that only make sense together."""
        valid = super().validate(extra_validators)
        url = (self.catalogue_url.data or "").strip()
        if url and not url.lower().startswith(("http://", "https://")) and not self.catalogue_url.errors:
            self.catalogue_url.errors.append(_l("Escribe una dirección web completa, con https://."))
            valid = False
        if self.catalogue_kind.data and not url:
            self.catalogue_url.errors.append(
                _l("Escribe la dirección del catálogo para poder traer sus datos.")
            )
            valid = False
        if self.catalogue_kind.data == "ckan" and not (self.catalogue_organization.data or "").strip():
            self.catalogue_organization.errors.append(
                _l("En un catálogo CKAN escribe el nombre de la organización.")
            )
            valid = False
        return valid


class InviteForm(FlaskForm):
    email = EmailField(_l("Correo electrónico"), validators=[DataRequired(REQUIRED), Email(EMAIL_INVALID)])
    role = SelectField(_l("Rol"), choices=_role_choices)


class RoleForm(FlaskForm):
    role = SelectField(_l("Rol"), choices=_role_choices)


class ConfirmForm(FlaskForm):
    """An empty form: a button whose POST carries only the CSRF token."""
