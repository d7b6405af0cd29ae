"""Forms of the surveys builder (labels in es-MX via Babel). The answering form is built
from the questions themselves (see views.answers_from_form), so it needs no class here."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.i18n import timezone_choices
from core.validation import SingleLine
from surveys.models import Privacy, QuestionKind

REQUIRED = _l("Este campo es obligatorio.")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def _privacy_choices():
    from surveys.services import PRIVACY_LABELS

    return [SelectChoice(p.value, PRIVACY_LABELS[p]) for p in Privacy]


def _kind_choices():
    from surveys.services import KIND_LABELS

    return [SelectChoice(k.value, KIND_LABELS[k]) for k in QuestionKind]


def _timezone_choices():
    return timezone_choices()


class SurveyForm(FlaskForm):
    title = StringField(_l("Título"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)])
    description = TextAreaField(
        _l("Descripción"),
        validators=[Optional(), Length(max=20000)],
        description=_l("Para qué servirán las respuestas y cuánto tiempo toma contestar."),
    )
    privacy = SelectField(
        _l("Privacidad de quien responde"),
        choices=_privacy_choices,
        description=_l(
            "Se elige al crear la encuesta y se muestra antes de responder; no cambia una vez abierta."
        ),
    )
    opens_at = DateTimeLocalField(
        _l("Abre (opcional)"),
        format=DATETIME_FORMAT,
        validators=[Optional()],
        description=_l("Déjalo vacío para abrirla en cuanto la publiques."),
    )
    closes_at = DateTimeLocalField(_l("Cierra"), format=DATETIME_FORMAT, validators=[DataRequired(REQUIRED)])
    timezone = SelectField(_l("Zona horaria"), choices=_timezone_choices, default="America/Mexico_City")
    live_results = BooleanField(_l("Mostrar resultados en vivo mientras está abierta"))
    invitation_only = BooleanField(_l("Solo por invitación (enlaces de un solo uso)"))
    suppression_threshold = IntegerField(
        _l("Umbral de protección de grupos pequeños"),
        default=5,
        validators=[Optional(), NumberRange(min=2, max=100)],
        description=_l("En los desgloses, los grupos con menos personas que este número se ocultan."),
    )


class QuestionForm(FlaskForm):
    kind = SelectField(_l("Tipo de pregunta"), choices=_kind_choices)
    prompt = StringField(_l("Pregunta"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=500)])
    help_text = TextAreaField(_l("Ayuda (opcional)"), validators=[Optional(), Length(max=2000)])
    required = BooleanField(_l("Respuesta obligatoria"))
    choices = TextAreaField(
        _l("Opciones (una por línea)"),
        validators=[Optional(), Length(max=20000)],
        description=_l("Para opción única, múltiple, ordenar y las ideas iniciales de una encuesta wiki."),
    )
    min_value = FloatField(
        _l("Mínimo"),
        validators=[Optional()],
        description=_l(
            "Opción múltiple: selecciones mínimas. Número: valor mínimo. Wiki: comparaciones para clasificar."
        ),
    )
    max_value = FloatField(
        _l("Máximo"),
        validators=[Optional()],
        description=_l("Opción múltiple: selecciones máximas. Número: valor máximo."),
    )
    scale_min = IntegerField(_l("La escala empieza en"), default=1, validators=[Optional()])
    scale_max = IntegerField(_l("La escala termina en"), default=5, validators=[Optional()])
    scale_min_label = StringField(
        _l("Etiqueta del inicio de la escala"), validators=[Optional(), SingleLine(), Length(max=100)]
    )
    scale_max_label = StringField(
        _l("Etiqueta del final de la escala"), validators=[Optional(), SingleLine(), Length(max=100)]
    )
    section_id = SelectField(_l("Sección"), choices=[], validate_choice=False)
    show_if_question = SelectField(_l("Mostrar solo si en la pregunta…"), choices=[], validate_choice=False)
    show_if_choices = StringField(
        _l(
            "…se eligió alguna de estas opciones (separadas por «|») "
            "o, para escalas y números, un rango «mín-máx»"
        ),
        validators=[Optional(), SingleLine(), Length(max=2000)],
    )


class SectionForm(FlaskForm):
    title = StringField(
        _l("Título de la sección"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)]
    )
    description = TextAreaField(_l("Descripción"), validators=[Optional(), Length(max=2000)])


class InvitationsForm(FlaskForm):
    count = IntegerField(
        _l("Número de enlaces"), default=10, validators=[DataRequired(REQUIRED), NumberRange(1, 500)]
    )
    label = StringField(
        _l("Para quién (nota interna)"), validators=[Optional(), SingleLine(), Length(max=200)]
    )


class IdeaForm(FlaskForm):
    text = StringField(_l("Tu idea"), validators=[DataRequired(REQUIRED), Length(max=300)])
