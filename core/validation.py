"""One-line text: titles, names and other fields that end up in email headers, calendar
lines and CSV cells hold no line break or other control character.

`SingleLine` is the WTForms validator (a form error next to the field), `SingleLineText`
the marshmallow one (a 422 naming the field); `one_line()` repairs text that must go into
a one-line place whatever was stored (email subjects, as a last line of defence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from wtforms.validators import ValidationError

from core.exceptions import DomainError, ValidationErrors
from core.timeutil import utcnow

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

    error = _l("Debe ser una sola línea, sin saltos de línea, tabuladores ni otros caracteres de control.")

    def __call__(self, value: Any) -> Any:
        if has_control_characters(value):
            raise ma.ValidationError(str(self.error))
        return value


def count_form_errors(fields: Any) -> int:
    """How many messages a WTForms form shows next to its fields, rows of lists (FieldList of
    FormField) included; the hidden CSRF token's are not next to any field."""
    count = 0
    for field in fields:
        if field.type == "FieldList":
            count += len(getattr(field, "list_errors", []))  # about the list as a whole
            count += sum(count_form_errors(entry.form) for entry in field.entries)
        elif field.type == "FormField":
            count += count_form_errors(field.form)
        elif field.type not in ("CSRFTokenField", "HiddenField"):
            count += len(field.errors)
    return count


# --- service-level cleaners: API-named values in, clean values out, 422 DomainError otherwise ---
# Shared by every domain that takes free-form JSON (events, challenges, …), so the rules and
# the messages are the same everywhere.

EARLIEST_DATE = date(2000, 1, 1)
LATEST_AHEAD = timedelta(days=3660)


def invalid(message: Any, field_name: str | None = None) -> DomainError:
    """A 422 refusal naming the field at fault."""
    return DomainError(message, field=field_name, status=422)


class FieldErrors:
    """Collects the refusals of several fields so that one request hears about all of them.

    Each `with errors.check():` block runs one field's cleaning; a DomainError naming a field
    is kept (the first per field) and the work goes on; one naming no field stops everything.
    `raise_if_any()` then raises the only refusal as it was, or ValidationErrors for several.
    """

    def __init__(self) -> None:
        self.refusals: dict[str, DomainError] = {}

    @contextmanager
    def check(self, field_name: str | None = None) -> Iterator[None]:
        try:
            yield
        except ValidationErrors as exc:
            for name, message in exc.errors.items():
                self.refusals.setdefault(name, invalid(message, name))
        except DomainError as exc:
            name = exc.field or field_name
            if name is None:
                raise
            self.refusals.setdefault(name, exc)

    def add(self, refusal: DomainError) -> None:
        """Keep `refusal` (made with `invalid()` or DomainError naming its field)."""
        self.refusals.setdefault(refusal.field or "", refusal)

    def __contains__(self, field_name: str) -> bool:
        return field_name in self.refusals

    def __bool__(self) -> bool:
        return bool(self.refusals)

    def raise_if_any(self) -> None:
        if len(self.refusals) == 1:
            raise next(iter(self.refusals.values()))
        if self.refusals:
            raise ValidationErrors(
                {name: refusal.message for name, refusal in self.refusals.items()},
                lazy_ngettext(
                    "Hay %(num)s campo por corregir.", "Hay %(num)s campos por corregir.", len(self.refusals)
                ),
            )


def clean_text(value: Any, field_name: str, max_length: int, *, required: bool = False) -> str | None:
    """Stripped text without control characters (line breaks and tabs aside), at most
    `max_length`, or None when empty."""
    if value is None:
        text_value = ""
    elif isinstance(value, str):
        text_value = value.strip()
    else:
        raise invalid(_l("Escribe un texto."), field_name)
    if required and not text_value:
        raise invalid(_l("Este campo es obligatorio."), field_name)
    if len(text_value) > max_length:
        raise invalid(_l("Escribe hasta %(n)s caracteres.", n=max_length), field_name)
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text_value):
        raise invalid(_l("El texto tiene caracteres no válidos."), field_name)
    return text_value or None


def clean_url(value: Any, field_name: str, *, required: bool = False) -> str | None:
    """An http(s) address of at most 500 characters, or None."""
    text_value = clean_text(value, field_name, 500, required=required)
    if text_value is None:
        return None
    parts = urlsplit(text_value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or " " in text_value:
        raise invalid(_l("Escribe una dirección web completa, con https://."), field_name)
    return text_value


def as_utc(value: Any, zone: str, field_name: str) -> datetime | None:
    """An aware UTC datetime from a datetime or ISO 8601 text (naive: in `zone`), between
    2000 and ten years ahead."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise invalid(_l("Escribe una fecha y hora válidas."), field_name) from None
    if not isinstance(value, datetime):
        raise invalid(_l("Escribe una fecha y hora válidas."), field_name)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    try:
        value = value.astimezone(ZoneInfo("UTC"))
    except (OverflowError, ValueError):
        raise invalid(_l("Escribe una fecha y hora válidas."), field_name) from None
    if not EARLIEST_DATE <= value.date() <= utcnow().date() + LATEST_AHEAD:
        raise invalid(_l("Escribe una fecha entre el año 2000 y los próximos diez años."), field_name)
    return value
