"""Forms of the events domain (labels in es-MX via Babel). Lists (agenda, datasets, questions)
are rows of fields: with JavaScript (static/js/rows.js) rows are added, removed and moved;
without it the page offers the existing rows plus a few blank ones, and blank rows are skipped."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    FloatField,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, ValidationError

from core.choices import MEXICAN_STATES, SECTOR_LABELS
from core.i18n import timezone_choices
from core.images import ALT_MAX_LENGTH, AltTextRequired, ImageUpload
from core.validation import SingleLine, count_form_errors
from events.models import CommitmentStatus, EventFormat, EventKind

REQUIRED = _l("Este campo es obligatorio.")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
BLANK_ROWS = 3
"""Blank rows offered after the existing ones (all a page without JavaScript can add at once)."""
ROWS_READ = 200
AGENDA_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}[ T])?([01]?\d|2[0-3]):[0-5]\d")


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


# --- rows of list fields (FieldList of FormField) -----------------------------------------


class RowForm(FlaskForm):
    """One row of a list; a row left blank is skipped, so blank rows cost nothing."""

    class Meta:
        csrf = False

    def is_blank(self) -> bool:
        return not any((field.data or "").strip() for field in self if isinstance(field.data, str))

    def validate(self, extra_validators=None) -> bool:
        if self.is_blank():
            return True
        return super().validate(extra_validators)


class AgendaRowForm(RowForm):
    # No Optional(): it would stop the chain before the checks below (a row half filled).
    time = StringField(_l("Hora"), validators=[SingleLine(), Length(max=20)])
    title = StringField(_l("Tema"), validators=[SingleLine(), Length(max=300)])
    speaker = StringField(
        _l("Quién lo presenta (opcional)"), validators=[Optional(), SingleLine(), Length(max=200)]
    )

    def validate_time(self, field) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Escribe la hora de este punto, p. ej. 10:00."))
        if not AGENDA_TIME.fullmatch(field.data.strip()):
            raise ValidationError(_l("Escribe la hora como HH:MM, p. ej. 10:00."))

    def validate_title(self, field) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Escribe el tema de este punto."))


class DatasetRowForm(RowForm):
    title = StringField(
        _l("Título del conjunto de datos"), validators=[Optional(), SingleLine(), Length(max=300)]
    )
    url = StringField(_l("Dirección web"), validators=[SingleLine(), Length(max=500)])

    def validate_url(self, field) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Escribe la dirección web del conjunto de datos."))
        URL(message=_l("Escribe una dirección web completa, con https://."))(self, field)


class QuestionRowForm(RowForm):
    prompt = StringField(_l("Pregunta"), validators=[SingleLine(), Length(max=300)])
    choices = TextAreaField(
        _l("Opciones (opcional)"),
        validators=[Optional(), SingleLine(one_item_per_line=True), Length(max=2500)],
        description=_l("Una por línea para una pregunta de opción única; vacío: respuesta libre."),
    )
    required = BooleanField(_l("Respuesta obligatoria"))

    def is_blank(self) -> bool:
        return not (self.prompt.data or "").strip() and not (self.choices.data or "").strip()

    def validate_prompt(self, field) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Escribe el texto de la pregunta."))

    def validate_choices(self, field) -> None:
        choices = choice_lines(field.data)
        if choices and (not 2 <= len(choices) <= 20 or len(set(choices)) != len(choices)):
            raise ValidationError(_l("Una pregunta de opción única necesita de 2 a 20 opciones distintas."))


def choice_lines(text: str | None) -> list[str]:
    """The options of a question typed one per line, trimmed, blanks skipped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def row_list(form_class, label) -> FieldList:
    """A list of rows; `pad_rows` adds the blank ones before the page is shown. How many rows
    count is the services' rule (e.g. 60 agenda points); the cap here only bounds the work."""
    return FieldList(FormField(form_class), label=label, min_entries=0, max_entries=ROWS_READ)


def pad_rows(form: FlaskForm, blank: int = BLANK_ROWS) -> FlaskForm:
    """End every list of `form` with `blank` empty rows (what a page without JavaScript can
    add at once); rows already there keep their data and errors."""
    for field in form:
        if isinstance(field, FieldList):
            trailing = 0
            for entry in reversed(field.entries):
                if not entry.form.is_blank():
                    break
                trailing += 1
            for _ in range(blank - trailing):
                field.append_entry()
    return form


def has_errors(form: FlaskForm) -> bool:
    """Whether the page shows any error (a row's, a list's or a field's)."""
    return count_form_errors(form) > 0


def filled_rows(field_list: FieldList) -> list[dict[str, Any]]:
    """The rows someone filled in, in the order shown."""
    return [entry.data for entry in field_list.entries if not entry.form.is_blank()]


def _text(row: dict[str, Any], name: str) -> str:
    """A row's text, trimmed ("" when the field was not sent at all)."""
    return (row.get(name) or "").strip()


def agenda_rows(field_list: FieldList) -> list[dict[str, Any]]:
    """Agenda rows as the services take them (HH:MM on the first day, or a full local time)."""
    return [
        {"time": _text(row, "time"), "title": _text(row, "title"), "speaker": _text(row, "speaker") or None}
        for row in filled_rows(field_list)
    ]


def dataset_rows(field_list: FieldList) -> list[dict[str, str]]:
    return [{"title": _text(row, "title"), "url": _text(row, "url")} for row in filled_rows(field_list)]


def question_rows(field_list: FieldList) -> list[dict[str, Any]]:
    questions = []
    for row in filled_rows(field_list):
        choices = choice_lines(row.get("choices"))
        questions.append(
            {
                "kind": "single_choice" if choices else "short_text",
                "prompt": _text(row, "prompt"),
                "choices": choices,
                "required": bool(row.get("required")),
            }
        )
    return questions


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
    agenda = row_list(AgendaRowForm, _l("Agenda"))
    datasets = row_list(DatasetRowForm, _l("Conjuntos de datos"))
    questions = row_list(QuestionRowForm, _l("Preguntas de registro"))


for _sector, _label in SECTOR_LABELS.items():
    setattr(
        EventForm,
        sector_field_name(str(_sector)),
        IntegerField(_label, validators=[Optional(), NumberRange(min=0, max=100000)]),
    )


# The cover picture (events.images), added apart from the rest of the form. `keeps_image` is set
# by the edit page when the event already has a cover (its alt text stays required).
EventForm.cover = FileField(
    _l("Imagen de portada (opcional)"),
    validators=[ImageUpload()],
    description=_l("JPEG, PNG o WebP de hasta 8 MB. Se muestra en la página de la actividad y en la lista."),
)
EventForm.cover_alt = StringField(
    _l("Texto alternativo de la imagen"),
    validators=[AltTextRequired("cover"), SingleLine(), Length(max=ALT_MAX_LENGTH)],
    description=_l("Qué muestra la imagen, para quien no puede verla. Obligatorio si hay imagen."),
)
EventForm.remove_cover = BooleanField(_l("Quitar la imagen de portada"))


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


class DuplicateForm(FlaskForm):
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
    datasets_published = row_list(DatasetRowForm, _l("Conjuntos de datos publicados como resultado"))
    datasets_requested = row_list(DatasetRowForm, _l("Conjuntos de datos solicitados"))


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
    datasets = row_list(DatasetRowForm, _l("Conjuntos de datos de la historia"))
    image = FileField(
        _l("Añadir una imagen (opcional)"),
        validators=[ImageUpload()],
        description=_l(
            "JPEG, PNG o WebP de hasta 8 MB. Al guardar, su línea «![…](…)» se añade al final de la "
            "historia: muévela al párrafo donde quieras que aparezca."
        ),
    )
    image_alt = StringField(
        _l("Texto alternativo de la imagen"),
        validators=[AltTextRequired("image"), SingleLine(), Length(max=ALT_MAX_LENGTH)],
        description=_l("Qué muestra la imagen, para quien no puede verla. Obligatorio si añades una."),
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


def agenda_data(event, to_local) -> list[dict[str, Any]]:
    """An event's agenda as rows: HH:MM on its first (local) day, date and time on the others."""
    rows = []
    local_day = to_local(event.starts_at).date()
    for item in event.agenda:
        local = to_local(item.starts_at)
        when = local.strftime("%H:%M") if local.date() == local_day else local.strftime("%Y-%m-%d %H:%M")
        rows.append({"time": when, "title": item.title, "speaker": item.speaker or ""})
    return rows


def dataset_data(datasets) -> list[dict[str, str]]:
    return [{"title": d.title, "url": d.url} for d in datasets]


def question_data(questions) -> list[dict[str, Any]]:
    return [
        {"prompt": q.prompt, "choices": "\n".join(q.choices or []), "required": q.required} for q in questions
    ]
