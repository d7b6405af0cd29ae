"""Forms of the demand domain (labels in es-MX via Babel); every page works without JavaScript."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from core.validation import SingleLine
from demand.labels import INTENDED_USE_LABELS, KIND_LABELS, REASON_LABELS, STATUS_LABELS
from demand.models import DemandStatus

REQUIRED = _l("Este campo es obligatorio.")


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(str(value), label) for value, label in pairs]


class RequestForm(FlaskForm):
    """A request for a dataset, or a question about one."""

    institution = SelectField(_l("Institución"), validators=[DataRequired(REQUIRED)])
    kind = RadioField(
        _l("¿Qué necesitas?"),
        choices=lambda: options(KIND_LABELS.items()),
        default="publish",
        validators=[DataRequired(REQUIRED)],
    )
    dataset = SelectField(
        _l("Conjunto de datos del catálogo"),
        validators=[Optional()],
        description=_l("Obligatorio para una pregunta; opcional si pides datos que aún no se publican."),
    )
    title = StringField(
        _l("Título"),
        validators=[DataRequired(REQUIRED), SingleLine(), Length(max=300)],
        description=_l("Por ejemplo: «Accidentes de tránsito por municipio, mensual»."),
    )
    description = TextAreaField(
        _l("Descripción"),
        validators=[Optional(), Length(max=5000)],
        description=_l(
            "Qué datos, con qué detalle, formato o frecuencia; o tu pregunta sobre los datos publicados."
        ),
    )
    intended_use = SelectField(
        _l("¿Para qué los usarás?"),
        choices=lambda: options([("", _l("Elige un uso")), *INTENDED_USE_LABELS.items()]),
        validators=[DataRequired(REQUIRED)],
    )
    confirm = HiddenField(validators=[SingleLine()])


class AnswerForm(FlaskForm):
    """The institution's official answer."""

    status = SelectField(_l("Nuevo estado"), validators=[DataRequired(REQUIRED)])
    committed_on = DateField(
        _l("Fecha comprometida de publicación"),
        validators=[Optional()],
        description=_l("Obligatoria si la programas."),
    )
    dataset_url = StringField(
        _l("Dirección del conjunto de datos publicado"),
        validators=[Optional(), SingleLine(), Length(max=1000)],
        description=_l("Obligatoria si ya se publicó."),
    )
    reason_code = SelectField(
        _l("Razón"),
        choices=lambda: options([("", _l("Elige una razón")), *REASON_LABELS.items()]),
        validators=[Optional()],
        description=_l("Obligatoria si no es posible publicarlo."),
    )
    explanation = TextAreaField(
        _l("Explicación o respuesta"),
        validators=[Optional(), Length(max=5000)],
        description=_l("Pública. Obligatoria si no es posible o si respondes una pregunta."),
    )
    legal_basis = TextAreaField(_l("Fundamento legal (opcional)"), validators=[Optional(), Length(max=2000)])

    def set_moves(self, moves: list[DemandStatus]) -> None:
        self.status.choices = options([(s, STATUS_LABELS[s]) for s in moves])


class MergeForm(FlaskForm):
    into = StringField(
        _l("Número de la solicitud que se queda"),
        validators=[DataRequired(REQUIRED), SingleLine(), Length(max=12)],
        description=_l(
            "Los apoyos y seguidores de esta solicitud pasan a aquella; ambos historiales se conservan."
        ),
    )


class DeadlineForm(FlaskForm):
    due_on = DateField(_l("Nueva fecha límite"), validators=[DataRequired(REQUIRED)])
    reason = TextAreaField(_l("Razón del cambio"), validators=[DataRequired(REQUIRED), Length(max=5000)])


class CommentForm(FlaskForm):
    body = TextAreaField(
        _l("Comentario"),
        validators=[DataRequired(REQUIRED), Length(max=5000)],
        description=_l("Hasta 5,000 caracteres. Puedes usar **negritas**, *cursivas*, listas y enlaces."),
    )


class HideForm(FlaskForm):
    reason = StringField(_l("Razón para ocultarlo"), validators=[DataRequired(REQUIRED), Length(max=500)])


class NonWorkingDayForm(FlaskForm):
    day = DateField(_l("Día"), validators=[DataRequired(REQUIRED)])
    description = StringField(
        _l("Descripción"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=_l("Por ejemplo: «Jueves Santo (acuerdo publicado en el DOF)»."),
    )
