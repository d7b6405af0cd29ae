"""Forms of the day of an event: name search, messages to the event's people."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from core.validation import SingleLine
from events.dayof_models import MessageAudience
from events.forms import REQUIRED
from events.services import AUDIENCE_LABELS, MAX_BODY, MAX_SUBJECT


class MessageForm(FlaskForm):
    audience = RadioField(
        _l("Para"),
        choices=[SelectChoice(audience, AUDIENCE_LABELS[audience]) for audience in MessageAudience.all],
        default=MessageAudience.confirmed,
        validators=[DataRequired(_l("Elige a quién va el mensaje."))],
    )
    subject = StringField(
        _l("Asunto"), validators=[DataRequired(REQUIRED), SingleLine(), Length(max=MAX_SUBJECT)]
    )
    body = TextAreaField(
        _l("Mensaje"),
        validators=[DataRequired(REQUIRED), Length(max=MAX_BODY)],
        description=_l("Texto simple. Cada persona lo recibe como lo eligió en sus preferencias de avisos."),
    )
