"""Error pages in the user's language, JSON errors under /api, security headers."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

from core.api import add_language_headers, guard_api_request, is_api_request, json_error_response
from core.extensions import db

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def _titles() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Solicitud incorrecta"), _("No pudimos entender la solicitud.")),
        401: (_("Inicia sesión"), _("Necesitas iniciar sesión para ver esta página.")),
        403: (_("Acceso denegado"), _("No tienes permiso para hacer esto.")),
        404: (_("Página no encontrada"), _("La página que buscas no existe o cambió de lugar.")),
        405: (_("Método no permitido"), _("Esta página no acepta ese tipo de solicitud.")),
        413: (_("Archivo demasiado grande"), _("Lo que enviaste supera el tamaño permitido.")),
        429: (
            _("Demasiados intentos"),
            _("Hiciste demasiadas solicitudes en poco tiempo. Espera un momento y vuelve a intentar."),
        ),
        500: (
            _("Algo salió mal"),
            _("Tuvimos un error inesperado. Ya quedó registrado; intenta de nuevo más tarde."),
        ),
    }


def _render_html_error(status: int, detail: str | None = None):
    title, message = _titles().get(status, _titles()[500] if status >= 500 else _titles()[400])
    return (
        render_template("core/error.html", status=status, title=title, message=detail or message),
        status,
    )


def handle_http_exception(exc: HTTPException):
    """One handler for every HTTP error: JSON for the API, a page otherwise."""
    if exc.code is None:
        return exc
    if is_api_request():
        return json_error_response(exc)
    if isinstance(exc, CSRFError):
        return _render_html_error(
            400,
            _(
                "El formulario caducó o no es válido. Vuelve a la página anterior, "
                "recárgala y envíalo de nuevo."
            ),
        )
    if exc.code in (301, 302, 303, 307, 308):
        return exc
    return _render_html_error(exc.code)


def handle_unexpected(exc: Exception):
    """Log an unexpected error, roll back, and answer 500 in the right format."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    return handle_http_exception(InternalServerError())


def add_security_headers(response):
    """Headers every response carries."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    return response


def refuse_nul_characters() -> None:
    """Text never contains NUL; PostgreSQL cannot store it, so refuse it up front (400),
    in the path (a `<slug>` or `<token>`), the query, the form and a JSON body."""
    if "\x00" in request.path:
        raise BadRequest(_("El texto no puede contener caracteres NUL."))
    values = list(request.args.values())
    if request.is_json:
        body = request.get_data(cache=True)
        if b"\x00" in body or b"\\u0000" in body:
            raise BadRequest(_("El texto no puede contener caracteres NUL."))
    elif request.method not in ("GET", "HEAD", "OPTIONS"):
        values.extend(request.form.values())
    if any("\x00" in value for value in values):
        raise BadRequest(_("El texto no puede contener caracteres NUL."))


def init_errors(app: Flask) -> None:
    """Register the error handlers, the input guard and the security headers."""
    # Authentication comes first: a caller without a token learns nothing about validation.
    app.before_request(guard_api_request)
    app.before_request(refuse_nul_characters)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
    app.after_request(add_security_headers)
    app.after_request(add_language_headers)
