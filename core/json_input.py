"""The one JSON parser for request bodies: bounded depth and number size, no NaN.

Python's parser recurses once per nesting level (100,000 `[` raise RecursionError) and
refuses integers over 4,300 digits with a ValueError that is not a JSONDecodeError;
either escaped as a 500. Here every such body is a `ValueError` with a clear message,
which the API turns into a 400 JSON error.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a request body may have (our schemas use 4)."""
MAX_NUMBER_LENGTH = 40
"""Longest number literal, in characters; no field takes more than a few digits."""


class JSONInputError(ValueError):
    """A request body that is not JSON we accept."""


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_NUMBER_LENGTH:
        raise JSONInputError(
            _("Los números en JSON pueden tener como máximo %(num)s dígitos.", num=MAX_NUMBER_LENGTH)
        )
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise JSONInputError(
            _("Los números en JSON pueden tener como máximo %(num)s caracteres.", num=MAX_NUMBER_LENGTH)
        )
    return float(literal)


def _refuse_constant(literal: str) -> Any:
    raise JSONInputError(_("%(literal)s no es un valor JSON.", literal=literal))


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise JSONInputError(_("El JSON puede anidarse como máximo %(num)s niveles.", num=MAX_DEPTH))
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads(data: str | bytes) -> Any:
    """Parse a request body; any refusal is a `ValueError` (`json.JSONDecodeError` for syntax)."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(_("El cuerpo de la solicitud no está en UTF-8.")) from exc
    try:
        value = json.loads(
            data, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant
        )
    except RecursionError as exc:
        raise JSONInputError(_("El JSON puede anidarse como máximo %(num)s niveles.", num=MAX_DEPTH)) from exc
    _check_depth(value)
    return value


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with `loads` bounded as above (`request.get_json` uses it)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
