"""API error messages in the caller's language (`core.i18n.select_locale`): the generic
message of each status, and marshmallow's field messages, which marshmallow writes in
English only. English callers read exactly the English texts the API always answered."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


def generic_message(status: int) -> str:
    """The message of an error that brings none of its own, for `status`."""
    messages = {
        400: _l("El navegador (o un proxy) envió una solicitud que el servidor no pudo entender."),
        401: _l(
            "El servidor no pudo verificar que tengas autorización para acceder a la URL solicitada. "
            "O enviaste credenciales equivocadas (p. ej., una contraseña incorrecta), o tu navegador "
            "no sabe cómo enviar las credenciales requeridas."
        ),
        403: _l(
            "No tienes permiso para acceder al recurso solicitado. Está protegido contra lectura "
            "o el servidor no puede leerlo."
        ),
        404: _l(
            "La URL solicitada no existe en el servidor. Si la escribiste a mano, revisa la "
            "ortografía y vuelve a intentar."
        ),
        405: _l("La URL solicitada no admite este método."),
        409: _l(
            "Hubo un conflicto al procesar la solicitud. Es posible que el recurso haya cambiado "
            "mientras se procesaba."
        ),
        413: _l("Los datos enviados superan el límite de tamaño."),
        415: _l("El servidor no admite el tipo de contenido enviado en la solicitud."),
        422: _l("La solicitud tiene campos no válidos."),
        429: _l("Hiciste demasiadas solicitudes en poco tiempo. Espera un momento y vuelve a intentar."),
        500: _l(
            "El servidor tuvo un error interno y no pudo completar tu solicitud. O está "
            "sobrecargado o hay un error en la aplicación."
        ),
        503: _l(
            "El servidor no puede atender tu solicitud por ahora, por mantenimiento o falta de "
            "capacidad. Vuelve a intentar más tarde."
        ),
    }
    if status in messages:
        return str(messages[status])
    return _("La solicitud no se pudo atender (HTTP %(status)s).", status=status)


# marshmallow's messages (fields, validators, schemas), as marshmallow formats them, and
# ours. `{name}` stands for the value marshmallow put there; it is carried over as it is.
# tests/core/test_api_language.py checks that every message marshmallow has is here.
MARSHMALLOW_MESSAGES = {
    "Missing data for required field.": _l("Falta este dato obligatorio."),
    "Field may not be null.": _l("Este campo no puede ser null."),
    "Invalid value.": _l("Valor no válido."),
    "Invalid input.": _l("Dato no válido."),
    "Invalid input type.": _l("Tipo de dato no válido."),
    "Invalid type.": _l("Tipo no válido."),
    "Unknown field.": _l("Campo desconocido."),
    "Not a valid boolean.": _l("No es un booleano válido."),
    "Not a valid string.": _l("No es un texto válido."),
    "Not a valid utf-8 string.": _l("No es un texto UTF-8 válido."),
    "Not a valid integer.": _l("No es un número entero válido."),
    "Not a valid number.": _l("No es un número válido."),
    "Number too large.": _l("El número es demasiado grande."),
    "Special numeric values (nan or infinity) are not permitted.": _l(
        "No se permiten valores numéricos especiales (nan o infinito)."
    ),
    "Not a valid list.": _l("No es una lista válida."),
    "Not a valid tuple.": _l("No es una tupla válida."),
    "Not a valid mapping type.": _l("No es un objeto válido."),
    "Not a valid email address.": _l("No es una dirección de correo válida."),
    "Not a valid URL.": _l("No es una URL válida."),
    "Not a valid UUID.": _l("No es un UUID válido."),
    "Not a valid IP address.": _l("No es una dirección IP válida."),
    "Not a valid IPv4 address.": _l("No es una dirección IPv4 válida."),
    "Not a valid IPv6 address.": _l("No es una dirección IPv6 válida."),
    "Not a valid IP interface.": _l("No es una interfaz IP válida."),
    "Not a valid IPv4 interface.": _l("No es una interfaz IPv4 válida."),
    "Not a valid IPv6 interface.": _l("No es una interfaz IPv6 válida."),
    "Not a valid period of time.": _l("No es un periodo de tiempo válido."),
    "Not a valid datetime.": _l("No es una fecha y hora válida."),
    "Not a valid naive datetime.": _l("No es una fecha y hora sin zona horaria válida."),
    "Not a valid aware datetime.": _l("No es una fecha y hora con zona horaria válida."),
    "Not a valid date.": _l("No es una fecha válida."),
    "Not a valid time.": _l("No es una hora válida."),
    "String does not match expected pattern.": _l("El texto no tiene el formato esperado."),
    "Must be one of: {choices}.": _l("Debe ser uno de: {choices}."),
    "Must be equal to {other}.": _l("Debe ser igual a {other}."),
    "One or more of the choices you made was in: {values}.": _l(
        "Una o más de las opciones elegidas está entre: {values}."
    ),
    "One or more of the choices you made was not in: {choices}.": _l(
        "Una o más de las opciones elegidas no está entre: {choices}."
    ),
    "Shorter than minimum length {min}.": _l("Más corto que la longitud mínima, {min}."),
    "Longer than maximum length {max}.": _l("Más largo que la longitud máxima, {max}."),
    "Length must be between {min} and {max}.": _l("La longitud debe estar entre {min} y {max}."),
    "Length must be {equal}.": _l("La longitud debe ser {equal}."),
    "Must be greater than or equal to {min}.": _l("Debe ser mayor o igual que {min}."),
    "Must be greater than {min}.": _l("Debe ser mayor que {min}."),
    "Must be less than or equal to {max}.": _l("Debe ser menor o igual que {max}."),
    "Must be less than {max}.": _l("Debe ser menor que {max}."),
    "Must be greater than or equal to {min} and less than or equal to {max}.": _l(
        "Debe ser mayor o igual que {min} y menor o igual que {max}."
    ),
    "Must be greater than or equal to {min} and less than {max}.": _l(
        "Debe ser mayor o igual que {min} y menor que {max}."
    ),
    "Must be greater than {min} and less than or equal to {max}.": _l(
        "Debe ser mayor que {min} y menor o igual que {max}."
    ),
    "Must be greater than {min} and less than {max}.": _l("Debe ser mayor que {min} y menor que {max}."),
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*)" for index, part in enumerate(parts)
    )
    return re.compile(regex + r"\Z", re.DOTALL)


# The longest literal text first: "Must be greater than {min}." would also match
# "Must be greater than or equal to 1.", which has a message of its own.
_PATTERNS = [
    (_pattern(english), translated)
    for english, translated in sorted(
        MARSHMALLOW_MESSAGES.items(), key=lambda item: -len(re.sub(r"\{\w+\}", "", item[0]))
    )
]


def field_message(message: str) -> str:
    """A marshmallow message (English) in the caller's language; any other message as it is."""
    for pattern, translated in _PATTERNS:
        found = pattern.match(message)
        if found:
            return str(translated).format(**found.groupdict())
    return message


def field_messages(messages: Any) -> Any:
    """Every message of a marshmallow error document (nested by field, list index…) localised."""
    if isinstance(messages, dict):
        return {key: field_messages(value) for key, value in messages.items()}
    if isinstance(messages, list | tuple):
        return [field_messages(value) for value in messages]
    if messages is None or isinstance(messages, bool | int | float):
        return messages
    return field_message(str(messages))
