"""Forms of the events domain (labels in es-MX via Babel). Pages work without JavaScript:
lists (agenda, datasets, questions) are typed one item per line."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional

from core.choices import MEXICAN_STATES, SECTOR_LABELS
from core.i18n import timezone_choices
from core.validation import SingleLine
from events.models import CommitmentStatus, EventFormat, EventKind

REQUIRED = _l("Este campo es obligatorio.")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(str(value), label) for value, label in pairs]


def kind_choices():
    from events.services import KIND_LABELS

    return options(KIND_LABELS.items())


def format_choices():
    from events.services import FORMAT_LABELS

    return options(FORMAT_LABELS.items())


def status_choices():
    from events.services import COMMITMENT_STATUS_LABELS

    return options(COMMITMENT_STATUS_LABELS.items())


def _state_choices():
    return options([("", _l("Sin entidad (en línea o nacional)")), *((s, s) for s in MEXICAN_STATES)])


def _timezone_choices():
    return timezone_choices()


def sector_field_name(sector: str) -> str:
    return f"seats_{sector}"


class EventForm(FlaskForm):
    institution = SelectField(_l("Institución organizadora"), choices=[])
    kind = SelectField(_l("Tipo de actividad"), choices=kind_choices, default=EventKind.dialogue_table.value)
    title = StringField(_l("Título"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)])
    summary = TextAreaField(
        _l("Resumen"),
        validators=[Optional(), Length(max=500)],
        description=_l("Una o dos frases; aparece en la lista de actividades."),
    )
    description = TextAreaField(
        _l("Descripción"),
        validators=[Optional(), Length(max=20000)],
        description=_l(
            "Puedes usar Markdown: **negritas**, listas con guiones y enlaces [texto](https://…)."
        ),
    )
    topics = StringField(
        _l("Temas"),
        validators=[Optional(), SingleLine(), Length(max=800)],
        description=_l("Separados por comas, p. ej. «salud, presupuesto, movilidad»."),
    )
    format = SelectField(_l("Modalidad"), choices=format_choices, default=EventFormat.in_person.value)
    venue = StringField(_l("Sede"), validators=[Optional(), SingleLine(), Length(max=200)])
    address = StringField(_l("Dirección"), validators=[Optional(), SingleLine(), Length(max=500)])
    state = SelectField(_l("Entidad federativa"), choices=_state_choices, validators=[Optional()])
    latitude = FloatField(
        _l("Latitud (opcional)"),
        validators=[Optional(), NumberRange(min=-90, max=90)],
        description=_l("Para mostrar un enlace al mapa, p. ej. 19.4326."),
    )
    longitude = FloatField(
        _l("Longitud (opcional)"),
        validators=[Optional(), NumberRange(min=-180, max=180)],
        description=_l("P. ej. -99.1332."),
    )
    online_url = StringField(
        _l("Enlace para participar en línea"),
        validators=[
            Optional(),
            SingleLine(),
            URL(message=_l("Escribe una dirección web completa, con https://.")),
            Length(max=500),
        ],
        description=_l("Solo lo ven las personas confirmadas, en la página y en sus correos."),
    )
    timezone = SelectField(_l("Zona horaria de la actividad"), choices=_timezone_choices)
    starts_at = DateTimeLocalField(
        _l("Empieza"),
        format=DATETIME_FORMAT,
        validators=[DataRequired(_l("Escribe una fecha y hora válidas."))],
    )
    ends_at = DateTimeLocalField(
        _l("Termina"),
        format=DATETIME_FORMAT,
        validators=[DataRequired(_l("Escribe una fecha y hora válidas."))],
    )
    registration_opens_at = DateTimeLocalField(
        _l("El registro abre (opcional)"),
        format=DATETIME_FORMAT,
        validators=[Optional()],
        description=_l("Vacío: en cuanto se publique."),
    )
    registration_closes_at = DateTimeLocalField(
        _l("El registro cierra (opcional)"),
        format=DATETIME_FORMAT,
        validators=[Optional()],
        description=_l("Vacío: al inicio de la actividad."),
    )
    capacity = IntegerField(
        _l("Cupo"),
        validators=[Optional(), NumberRange(min=1, max=1_000_000)],
        description=_l("Vacío: sin límite."),
    )
    waitlist = BooleanField(_l("Lista de espera cuando se llene el cupo"), default=True)
    academic_partner = StringField(
        _l("Institución académica aliada"),
        validators=[Optional(), SingleLine(), Length(max=200)],
        description=_l("Obligatoria en colaboraciones de datos para el desarrollo."),
    )
    cohosts = SelectMultipleField(
        _l("Instituciones coorganizadoras"),
        choices=[],
        validators=[Optional()],
        description=_l(
            "Cada institución recibe una solicitud; se muestra como pendiente hasta que una persona "
            "enlace o del equipo de esa institución acepte."
        ),
    )
    reminder_offsets = StringField(
        _l("Recordatorios (minutos antes del inicio)"),
        validators=[Optional(), SingleLine(), Length(max=100)],
        default="1440, 60",
        description=_l("Separados por comas; 1440 = 24 horas, 60 = una hora."),
    )
    agenda = TextAreaField(
        _l("Agenda"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=10000)],
        description=_l(
            "Un punto por línea: «10:00 | Bienvenida | Nombre de quien habla» (la persona es opcional)."
        ),
    )
    datasets = TextAreaField(
        _l("Conjuntos de datos"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=10000)],
        description=_l("Uno por línea: «Título | https://datos.gob.mx/…»."),
    )
    questions = TextAreaField(
        _l("Preguntas de registro"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=5000)],
        description=_l(
            "Una por línea. Para opción única agrega las opciones con «|»: «¿Tu nivel? | Básico | Avanzado». "
            "Empieza con * si la respuesta es obligatoria."
        ),
    )


for _sector, _label in SECTOR_LABELS.items():
    setattr(
        EventForm,
        sector_field_name(str(_sector)),
        IntegerField(_label, validators=[Optional(), NumberRange(min=0, max=100000)]),
    )


class RescheduleForm(FlaskForm):
    starts_at = DateTimeLocalField(
        _l("Nuevo inicio"),
        format=DATETIME_FORMAT,
        validators=[DataRequired(_l("Escribe una fecha y hora válidas."))],
    )
    ends_at = DateTimeLocalField(
        _l("Nuevo fin"),
        format=DATETIME_FORMAT,
        validators=[DataRequired(_l("Escribe una fecha y hora válidas."))],
    )


class CancelEventForm(FlaskForm):
    reason = TextAreaField(
        _l("Motivo de la cancelación"),
        validators=[DataRequired(REQUIRED), Length(max=2000)],
        description=_l("Se envía a todas las personas registradas."),
    )


class CheckInForm(FlaskForm):
    code = StringField(
        _l("Código de registro"),
        validators=[DataRequired(REQUIRED), SingleLine(), Length(max=20)],
        description=_l("Escríbelo o escanea el código QR con un lector que escriba en este campo."),
    )


class WalkInForm(FlaskForm):
    name = StringField(
        _l("Nombre de la persona"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)]
    )
    sector = SelectField(
        _l("Sector (opcional)"),
        choices=lambda: options([("", _l("Sin indicar")), *SECTOR_LABELS.items()]),
        validators=[Optional()],
    )


class OutcomeForm(FlaskForm):
    attendance = IntegerField(
        _l("Asistencia"),
        validators=[Optional(), NumberRange(min=0, max=1_000_000)],
        description=_l(
            "Por omisión, las personas con asistencia registrada (incluidas las que llegaron sin registro)."
        ),
    )
    minutes = TextAreaField(
        _l("Minuta"),
        validators=[Optional(), Length(max=50000)],
        description=_l("Lo que se discutió y decidió. Puedes usar Markdown."),
    )
    datasets_published = TextAreaField(
        _l("Conjuntos de datos publicados como resultado"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=10000)],
        description=_l("Uno por línea: «Título | https://…»."),
    )
    datasets_requested = TextAreaField(
        _l("Conjuntos de datos solicitados"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=10000)],
        description=_l("Uno por línea: «Título | https://…»."),
    )


class CommitmentForm(FlaskForm):
    text = TextAreaField(_l("Acuerdo"), validators=[DataRequired(REQUIRED), Length(max=2000)])
    responsible_institution = SelectField(
        _l("Institución responsable"),
        choices=[],
        validators=[Optional()],
        description=_l(
            "Otra institución debe aceptar; mientras tanto se muestra como pendiente de confirmar."
        ),
    )
    responsible_name = StringField(
        _l("U otra persona u organización responsable"),
        validators=[Optional(), SingleLine(), Length(max=200)],
        description=_l("Si no es una institución registrada, p. ej. una universidad."),
    )
    due_on = DateField(_l("Fecha compromiso (opcional)"), validators=[Optional()])
    status = SelectField(_l("Estado"), choices=status_choices, default=CommitmentStatus.pending.value)


class CommitmentStatusForm(FlaskForm):
    status = SelectField(_l("Estado"), choices=status_choices)


class StoryForm(FlaskForm):
    title = StringField(
        _l("Título de la historia"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=200)]
    )
    body = TextAreaField(
        _l("Historia"),
        validators=[DataRequired(REQUIRED), Length(max=50000)],
        description=_l("Qué se logró y para quién. Puedes usar Markdown."),
    )
    datasets = TextAreaField(
        _l("Conjuntos de datos de la historia"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=10000)],
        description=_l("Uno por línea: «Título | https://…»."),
    )
    publish = BooleanField(_l("Publicar la historia"))


class ConfirmForm(FlaskForm):
    """A button whose POST carries only the CSRF token."""


def registration_form(questions) -> FlaskForm:
    """A form with one field per registration question (named q<id>)."""

    class RegistrationForm(FlaskForm):
        pass

    for question in questions:
        validators = [DataRequired(REQUIRED)] if question.required else [Optional()]
        if question.kind == "single_choice":
            field = RadioField(
                question.prompt,
                choices=options((choice, choice) for choice in question.choices),
                validators=validators,
            )
        else:
            field = StringField(question.prompt, validators=[*validators, SingleLine(), Length(max=1000)])
        setattr(RegistrationForm, f"q{question.id}", field)
    return RegistrationForm()


# --- list fields typed one item per line -------------------------------------------------


def parse_lines(text: str | None) -> list[list[str]]:
    """Non-empty lines split on «|», trimmed."""
    rows = []
    for line in (text or "").splitlines():
        if line.strip():
            rows.append([part.strip() for part in line.split("|")])
    return rows


def parse_agenda(text: str | None) -> list[dict[str, Any]]:
    return [
        {
            "time": parts[0],
            "title": parts[1] if len(parts) > 1 else "",
            "speaker": parts[2] if len(parts) > 2 else None,
        }
        for parts in parse_lines(text)
    ]


def parse_datasets(text: str | None) -> list[dict[str, str]]:
    datasets = []
    for parts in parse_lines(text):
        if len(parts) == 1:
            datasets.append({"title": "", "url": parts[0]})
        else:
            datasets.append({"title": parts[0], "url": parts[-1]})
    return datasets


def parse_questions(text: str | None) -> list[dict[str, Any]]:
    questions = []
    for parts in parse_lines(text):
        prompt = parts[0]
        required = prompt.startswith("*")
        prompt = prompt.lstrip("*").strip()
        choices = [c for c in parts[1:] if c]
        questions.append(
            {
                "kind": "single_choice" if choices else "short_text",
                "prompt": prompt,
                "choices": choices,
                "required": required,
            }
        )
    return questions


def format_agenda(event, to_local) -> str:
    lines = []
    local_day = to_local(event.starts_at).date()
    for item in event.agenda:
        local = to_local(item.starts_at)
        when = local.strftime("%H:%M") if local.date() == local_day else local.strftime("%Y-%m-%d %H:%M")
        lines.append(" | ".join(part for part in (when, item.title, item.speaker or "") if part))
    return "\n".join(lines)


def format_datasets(datasets) -> str:
    return "\n".join(f"{d.title} | {d.url}" for d in datasets)


def format_questions(questions) -> str:
    lines = []
    for q in questions:
        head = ("*" if q.required else "") + q.prompt
        lines.append(" | ".join([head, *q.choices]) if q.choices else head)
    return "\n".join(lines)
