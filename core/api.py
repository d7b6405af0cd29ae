"""The JSON API object (`/api/v1`), its error format and bearer-token auth."""

from __future__ import annotations

import json
from functools import lru_cache, wraps
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.pagination import PaginationMetadataSchema
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest, HTTPException, TooManyRequests, Unauthorized

from core import json_input
from core.api_messages import field_messages, generic_message
from core.extensions import csrf, db
from core.i18n import html_lang
from core.models import ApiToken, User
from core.security import token_digest
from core.timeutil import utcnow

API_PREFIX = "/api/v1"

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable in every language: match on it."})
    message = ma.fields.String(
        required=True,
        metadata={"description": "In the caller's language: Accept-Language `en` or `es` (the default)."},
    )
    fields = ma.fields.Dict(
        keys=ma.fields.String(), metadata={"description": "Messages per field, in the same language."}
    )


class ErrorSchema(ma.Schema):
    """`{"error": {"code", "message", "fields"}}`, the one error shape of the API."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


class ErrorResponsesPlugin(BasePlugin):
    """Document, on every operation, the errors the API really answers (all with the error
    schema): what `guard_api_request`, the token check and the services can refuse."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for method, operation in (operations or {}).items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = ["400", "401"]  # NUL in the query or a body; a bad token on any call
            if operation.get("security"):
                statuses.append("403")
            if path and "{" in path:
                statuses.append("404")
            if "requestBody" in operation:
                statuses.extend(["413", "415", "422"])
            if method != "get":
                statuses.append("409")
            responses = operation.setdefault("responses", {})
            for status in statuses:
                # flask-smorest keys what it documents by int (`alt_response(409, …)`): one key
                # per status, or the second "409" would hide the first in the JSON document.
                documented = [responses.pop(key) for key in (int(status), status) if key in responses]
                name = HTTPStatus(int(status)).name
                own = documented[0] if documented else name
                if isinstance(own, dict) and set(own) == {"description"}:
                    # The operation's own words (its error codes) on the one error schema:
                    # an OpenAPI 3.1 reference may carry its own description.
                    own = {"$ref": f"#/components/responses/{name}", "description": own["description"]}
                responses[status] = own


class PaginationMetadata(PaginationMetadataSchema):
    """flask-smorest's pagination metadata plus `total_exact`."""

    total_exact = ma.fields.Boolean(
        metadata={
            "description": "False when the list stopped counting: `total` is then a lower bound "
            "(at least that many) and `last_page` the last page known to exist."
        }
    )

    class Meta:
        ordered = True


PAGINATION_HEADER = {
    "description": "Pagination metadata, as JSON: `total`, `total_pages`, `first_page`, "
    "`last_page`, `page`, `previous_page`, `next_page`, `total_exact`. A list may stop counting "
    "some pages past the one asked for (the events and demand lists: 10 pages); `total_exact` is then false "
    "and `total` a lower bound. Asking for a later page counts further; the last page is exact.",
    "required": True,
    "content": {"application/json": {"schema": PaginationMetadata}},
}


class PromueveApi(Api):
    """flask-smorest Api whose errors are rendered by `core.errors` (one format)."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        # core.errors owns the app-wide handlers, JSON under /api, HTML elsewhere.
        pass

    def _register_pagination_header(self):
        # The header carries JSON text: OpenAPI says so with `content`, not `schema`.
        self.spec.components.header("PAGINATION", PAGINATION_HEADER, lazy=True)


api = PromueveApi(
    spec_kwargs={
        "extra_plugins": [ErrorResponsesPlugin()],
        "info": {
            "description": "API JSON de Promueve / Promueve JSON API. "
            "Authenticate with `POST /api/v1/tokens`, then send `Authorization: Bearer TOKEN`."
        },
        "servers": [{"url": "/"}],
    }
)


_JSON_KEY = "promueve.api_json"
_USER_KEY = "promueve.api_user"


def json_body() -> Any:
    """The request's JSON body, parsed once by `core.json_input` (400 when refused)."""
    # Kept on the request itself (its WSGI environ), not on `g`: an application context may
    # outlive one request (tests push one around several), a request never does.
    if _JSON_KEY not in request.environ:
        try:
            request.environ[_JSON_KEY] = json_input.loads(request.get_data(cache=True))
        except ValueError as exc:
            detail = str(exc) if isinstance(exc, json_input.JSONInputError) else _("No se puede analizar.")
            raise BadRequest(
                _("El cuerpo de la solicitud no es JSON válido. %(detail)s", detail=detail)
            ) from exc
    return request.environ[_JSON_KEY]


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser reading the body through `json_body()` (one guarded parser)."""

    def _raw_load_json(self, req) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            return webargs_core.missing  # no body: an optional one was left out
        return json_body()


class ApiBlueprint(SmorestBlueprint):
    """A smorest blueprint mounted under /api/v1 and exempt from CSRF (token auth).

    A handler declared with `arguments(...)` in the JSON body is marked, so that
    `guard_api_request` refuses a missing or non-JSON body before the handler runs.
    """

    ARGUMENTS_PARSER = ArgumentsParser()

    def _set_pagination_metadata(self, page_params, result, headers):
        """The `X-Pagination` header, with `total_exact` (a handler sets it False on
        `pagination_parameters` when its `item_count` is a lower bound)."""
        metadata = self._make_pagination_metadata(
            page_params.page, page_params.page_size, page_params.item_count
        )
        metadata["total_exact"] = getattr(page_params, "total_exact", True)
        headers = {} if headers is None else headers
        headers[self.PAGINATION_HEADER_NAME] = json.dumps(metadata)
        return result, headers

    def __init__(self, name: str, import_name: str, url_prefix: str = "", **kwargs: Any):
        super().__init__(name, import_name, url_prefix=API_PREFIX + url_prefix, **kwargs)
        csrf.exempt(self)

    def arguments(self, schema, *, location: str = "json", required: bool = True, **kwargs: Any):
        decorator = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json":
            return decorator

        def mark_body(func):
            wrapper = decorator(func)
            wrapper._promueve_json_body = required
            return wrapper

        return mark_body


def is_api_request() -> bool:
    """Whether the current request is for the JSON API."""
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def error_body(status: int, message: str, code: str | None = None, fields: Any = None) -> dict:
    """The JSON error document of the public contract."""
    body: dict[str, Any] = {
        "code": code or ERROR_CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_")),
        "message": message,
    }
    if fields:
        body["fields"] = fields
    return {"error": body}


def json_error_response(exc: HTTPException):
    """Render any HTTPException as the JSON error document, in the caller's language (the
    messages of werkzeug's and marshmallow's own, English only, are replaced)."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    fields = None
    messages = data.get("messages")
    if isinstance(messages, dict):
        # webargs nests errors by location ("json", "query"); flatten one level.
        if set(messages) <= {"json", "query", "form", "files", "headers", "path", "view_args"}:
            flattened: dict[str, Any] = {}
            for location_errors in messages.values():
                if isinstance(location_errors, dict):
                    flattened.update(location_errors)
            messages = flattened
        fields = messages
    fields = data.get("fields", fields)
    # A description given to the exception is ours; the class's own is werkzeug's English,
    # and a rate limit's is the limit ("5 per 1 minute"): those get the status's message.
    message = data.get("message") or vars(exc).get("description")
    if not message or isinstance(exc, TooManyRequests):
        message = generic_message(status)
    if (
        status == 400
        and "JSON" not in str(message)
        and request.is_json
        and request.get_json(silent=True) is None
    ):
        message = _("El cuerpo de la solicitud no es JSON válido.")
    if status == 422 and not data.get("message"):
        message = generic_message(422)
    response = jsonify(error_body(status, str(message), data.get("code"), field_messages(fields) or None))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="promueve"'
    if hasattr(exc, "get_headers"):
        for key, value in exc.get_headers():
            if key.lower() not in {"content-type", "content-length"}:
                response.headers[key] = value
    return response


def add_language_headers(response):
    """API answers name their language (`Content-Language`) and vary with Accept-Language."""
    if is_api_request():
        response.headers.setdefault("Content-Language", html_lang())
        response.vary.add("Accept-Language")
    return response


def api_abort(status: int, message: str, *, code: str | None = None, fields: Any = None):
    """Stop the request with a JSON error of `status`."""
    from werkzeug.exceptions import default_exceptions

    exc_class = default_exceptions.get(status, HTTPException)
    exc = exc_class(description=message)
    exc.code = status
    exc.data = {"message": message, "code": code, "fields": fields}
    raise exc


@lru_cache(maxsize=1)
def _token_query():
    """The token and its person in one statement, built once (every API request runs it)."""
    return (
        select(ApiToken)
        .options(joinedload(ApiToken.user, innerjoin=True))
        .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
    )


def _user_from_bearer() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _space, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_("Usa el encabezado 'Authorization: Bearer TOKEN'."))
    found = db.session.execute(_token_query(), {"digest": token_digest(token.strip())}).scalar_one_or_none()
    if found is None or not found.user.is_active:
        raise Unauthorized(_("El token no es válido o fue revocado."))
    now = utcnow()
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 300:
        found.last_used_at = now
        db.session.commit()
    return found.user


def api_user() -> User | None:
    """The user authenticated by bearer token (401 on a bad token), or None."""
    if _USER_KEY not in request.environ:  # per request, as `json_body`
        request.environ[_USER_KEY] = _user_from_bearer()
    return request.environ[_USER_KEY]


def auth_required(view):
    """Require a valid bearer token; the user is then `api_user()`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if api_user() is None:
            raise Unauthorized(_("Se requiere autenticación: envía 'Authorization: Bearer TOKEN'."))
        return view(*args, **kwargs)

    wrapper._promueve_auth = True
    return wrapper


def _api_handler():
    """The function that will answer this request (a MethodView's method), or None."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return view
    method = "get" if request.method == "HEAD" else request.method.lower()
    return getattr(view_class, method, None)


def guard_api_request() -> None:
    """Before any API handler: authenticate (401 first), then insist on the JSON body it
    declares (400 when missing, 415 when not JSON, 400 when it does not parse)."""
    if not is_api_request():
        return
    handler = _api_handler()
    if handler is None:
        return
    if getattr(handler, "_promueve_auth", False) and api_user() is None:
        raise Unauthorized(_("Se requiere autenticación: envía 'Authorization: Bearer TOKEN'."))
    body_required = getattr(handler, "_promueve_json_body", None)
    if body_required is None:
        return
    if not request.get_data(cache=True):
        if body_required:
            api_abort(400, _("Esta solicitud necesita un cuerpo JSON (Content-Type: application/json)."))
        return
    if not request.is_json:
        api_abort(415, _("Envía el cuerpo como JSON, con el encabezado 'Content-Type: application/json'."))
    json_body()


BEARER_SCHEME = {"type": "http", "scheme": "bearer"}
