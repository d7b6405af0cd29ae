"""One-line text: titles, names and other fields that end up in email headers, calendar
lines and CSV cells hold no line break or other control character.

`SingleLine` is the WTForms validator (a form error next to the field), `SingleLineText`
the marshmallow one (a 422 naming the field); `one_line()` repairs text that must go into
a one-line place whatever was stored (email subjects, as a last line of defence).
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL_CHARACTERS = re.compile(f"[{_CONTROLS}]")
_CONTROL_RUN = re.compile(rf"\s*[{_CONTROLS}][\s{_CONTROLS}]*")
_LINE_BREAKS = re.compile("\r\n|\r|\n")


def has_control_characters(value: Any, *, line_breaks_allowed: bool = False) -> bool:
    """Whether `value` (a string) holds a control character (CR/LF tolerated if allowed)."""
    if not isinstance(value, str):
        return False
    if line_breaks_allowed:
        return any(CONTROL_CHARACTERS.search(line) for line in _LINE_BREAKS.split(value))
    return CONTROL_CHARACTERS.search(value) is not None


def one_line(value: Any) -> str:
    """`value` as one line: every run of control characters (and the spaces around it) becomes
    a single space."""
    text = "" if value is None else str(value)
    if CONTROL_CHARACTERS.search(text) is None:
        return text
    return _CONTROL_RUN.sub(" ", text).strip()


class SingleLine:
    """WTForms validator: the text is one line, without line breaks, tabs or other control
    characters. With `one_item_per_line=True` (lists typed one item per line) line breaks
    separate the items and every item is held to the same rule."""

    def __init__(self, message: Any = None, *, one_item_per_line: bool = False):
        self.message = message
        self.one_item_per_line = one_item_per_line

    def __call__(self, form, field) -> None:
        if has_control_characters(field.data, line_breaks_allowed=self.one_item_per_line):
            if self.message is not None:
                raise ValidationError(self.message)
            if self.one_item_per_line:
                raise ValidationError(
                    _l("Cada línea debe ser texto simple, sin tabuladores ni caracteres de control.")
                )
            raise ValidationError(_l("Escríbelo en una sola línea, sin saltos de línea ni tabuladores."))


class SingleLineText(ma.validate.Validator):
    """marshmallow validator: the string is one line, without control characters (422)."""

    error = "Must be a single line, without line breaks, tabs or other control characters."

    def __call__(self, value: Any) -> Any:
        if has_control_characters(value):
            raise ma.ValidationError(self.error)
        return value
