"""Forms of notifications (labels in es-MX via Babel)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from notifications.models import Category, Channel
from notifications.services import CATEGORY_LABELS, CHANNEL_LABELS


def _channel_choices() -> list[SelectChoice]:
    return [SelectChoice(str(channel), CHANNEL_LABELS[channel]) for channel in Channel]


class PreferencesForm(FlaskForm):
    """One channel per category; the fields are named after the categories."""


for _category in Category:
    setattr(
        PreferencesForm,
        _category.value,
        SelectField(CATEGORY_LABELS[_category], choices=_channel_choices, default=Channel.email.value),
    )


class EmptyForm(FlaskForm):
    """A button that only needs the CSRF token."""
