"""API error messages follow the caller's language (Accept-Language; Spanish by default),
field messages included; the error codes stay the same in every language."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import marshmallow as ma
import pytest
from werkzeug.exceptions import MethodNotAllowed

from core.api_messages import MARSHMALLOW_MESSAGES, field_messages
from core.extensions import db
from core.validation import SingleLineText
from tests.conftest import ROOT
from tests.factories import PASSWORD, login, make_event, make_institution, make_liaison, make_user

API = "/api/v1"
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
SPANISH = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == code
    return error


def token(client, email: str) -> dict[str, str]:
    response = client.post(f"{API}/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_a_404_in_spanish_by_default_and_in_english_when_asked(app, client):
    default = client.get(f"{API}/institutions/nope")
    assert error_of(default, 404, "not_found")["message"] == "No existe la institución 'nope'."
    assert default.headers["Content-Language"] == "es-MX"
    assert "Accept-Language" in default.headers["Vary"]
    spanish = client.get(f"{API}/institutions/nope", headers=SPANISH)
    assert error_of(spanish, 404, "not_found")["message"] == "No existe la institución 'nope'."
    english = client.get(f"{API}/institutions/nope", headers=ENGLISH)
    assert error_of(english, 404, "not_found")["message"] == "No institution 'nope'."
    assert english.headers["Content-Language"] == "en"
    # A language we do not ship falls back to Spanish.
    french = client.get(f"{API}/institutions/nope", headers={"Accept-Language": "fr-FR"})
    assert error_of(french, 404, "not_found")["message"] == "No existe la institución 'nope'."


def test_a_token_caller_is_answered_by_its_header_a_browser_session_by_its_profile(app, client):
    with app.app_context():
        make_user("ana@example.org").locale = "en"
        db.session.commit()
    headers = token(app.test_client(), "ana@example.org")
    # A token has no session: the header decides, and without one the answer is Spanish.
    by_token = client.get(f"{API}/institutions/nope", headers={**headers, **SPANISH})
    assert error_of(by_token, 404, "not_found")["message"] == "No existe la institución 'nope'."
    bare = client.get(f"{API}/institutions/nope", headers=headers)
    assert error_of(bare, 404, "not_found")["message"] == "No existe la institución 'nope'."
    # A signed-in browser gets its profile's language, as on the pages.
    login(client, "ana@example.org")
    by_session = client.get(f"{API}/institutions/nope", headers=SPANISH)
    assert error_of(by_session, 404, "not_found")["message"] == "No institution 'nope'."


def test_generic_messages_of_werkzeug_statuses_are_translated(app, client):
    unknown = error_of(client.get(f"{API}/nothing-here"), 404, "not_found")["message"]
    assert unknown.startswith("La URL solicitada no existe")
    english = error_of(client.get(f"{API}/nothing-here", headers=ENGLISH), 404, "not_found")
    assert english["message"].startswith("The requested URL was not found on the server.")
    assert error_of(client.put(f"{API}/me"), 405, "method_not_allowed")["message"] == (
        "La URL solicitada no admite este método."
    )
    not_allowed = error_of(client.put(f"{API}/me", headers=ENGLISH), 405, "method_not_allowed")
    assert not_allowed["message"] == MethodNotAllowed.description  # today's English, unchanged


def test_a_401_in_both_languages(app, client):
    spanish = error_of(client.get(f"{API}/me"), 401, "unauthorized")["message"]
    assert spanish == "Se requiere autenticación: envía 'Authorization: Bearer TOKEN'."
    english = error_of(client.get(f"{API}/me", headers=ENGLISH), 401, "unauthorized")["message"]
    assert english == "Authentication required: send 'Authorization: Bearer TOKEN'."
    forged = {"Authorization": "Bearer pmv_forged", **ENGLISH}
    assert error_of(client.get(f"{API}/me", headers=forged), 401, "unauthorized")["message"] == (
        "The token is not valid or was revoked."
    )


def test_a_422_names_its_fields_in_the_callers_language(app, client):
    spanish = error_of(
        client.post(f"{API}/tokens", json={"email": "nope", "extra": 1}), 422, "validation_error"
    )
    assert spanish["message"] == "La solicitud tiene campos no válidos."
    assert spanish["fields"] == {
        "email": ["No es una dirección de correo válida."],
        "password": ["Falta este dato obligatorio."],
        "extra": ["Campo desconocido."],
    }
    english = error_of(
        client.post(f"{API}/tokens", json={"email": "nope", "extra": 1}, headers=ENGLISH),
        422,
        "validation_error",
    )
    assert english["message"] == "The request has invalid fields."
    assert english["fields"] == {
        "email": ["Not a valid email address."],
        "password": ["Missing data for required field."],
        "extra": ["Unknown field."],
    }


def test_query_validation_and_our_own_validators_are_translated(app, client):
    spanish = error_of(client.get(f"{API}/events?page=0"), 422, "validation_error")
    assert spanish["fields"] == {"page": ["Debe ser mayor o igual que 1."]}
    english = error_of(client.get(f"{API}/events?page=0", headers=ENGLISH), 422, "validation_error")
    assert english["fields"] == {"page": ["Must be greater than or equal to 1."]}
    with app.app_context():
        make_user("ana@example.org")
    headers = token(client, "ana@example.org")
    two_lines = {"name": "Mi\ntoken", "email": "ana@example.org", "password": PASSWORD}
    spanish = error_of(client.post(f"{API}/tokens", json=two_lines), 422, "validation_error")
    assert spanish["fields"]["name"] == [str(SingleLineText.error)]
    assert spanish["fields"]["name"][0].startswith("Debe ser una sola línea")
    english = error_of(client.post(f"{API}/tokens", json=two_lines, headers=ENGLISH), 422, "validation_error")
    assert english["fields"]["name"] == [
        "Must be a single line, without line breaks, tabs or other control characters."
    ]
    assert client.get(f"{API}/me", headers=headers).status_code == 200


def test_a_domain_conflict_in_both_languages(app, client):
    with app.app_context():
        event = make_event(make_institution("inegi"), capacity=1, waitlist=False)
        event_id = event.id
        for email in ("ana@example.org", "beto@example.org"):
            make_user(email)
    path = f"{API}/events/{event_id}/registration"
    assert client.post(path, headers=token(client, "ana@example.org")).status_code == 201
    beto = token(client, "beto@example.org")
    spanish = error_of(client.post(path, headers=beto), 409, "event_full")
    assert spanish["message"] == "Ya no hay lugares para esta actividad."
    english = error_of(client.post(path, headers={**beto, **ENGLISH}), 409, "event_full")
    assert english["message"] == "There are no spots left for this event."


def test_body_refusals_are_translated(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    headers = token(client, "enlace@example.org")
    spanish = error_of(
        client.post(f"{API}/tokens", data="{no", content_type="application/json"), 400, "bad_request"
    )
    assert spanish["message"] == "El cuerpo de la solicitud no es JSON válido. No se puede analizar."
    english = client.post(f"{API}/tokens", data="{no", content_type="application/json", headers=ENGLISH)
    assert (
        error_of(english, 400, "bad_request")["message"]
        == "The request body is not valid JSON. It does not parse."
    )
    deep = client.post(
        f"{API}/tokens", data="[" * 40 + "]" * 40, content_type="application/json", headers=ENGLISH
    )
    assert error_of(deep, 400, "bad_request")["message"] == (
        "The request body is not valid JSON. JSON may nest at most 32 levels deep."
    )
    plain = client.post(f"{API}/institutions", data="{}", content_type="text/plain", headers=headers)
    assert error_of(plain, 415, "unsupported_media_type")["message"].startswith("Envía el cuerpo como JSON")
    missing = client.post(f"{API}/institutions", headers={**headers, **ENGLISH})
    assert error_of(missing, 400, "bad_request")["message"] == (
        "This request needs a JSON body (Content-Type: application/json)."
    )


def test_a_rate_limit_says_so_in_the_callers_language(app, client):
    app.config["LIMIT_AUTH_PER_ACCOUNT"] = "1 per minute"
    body = {"email": "a@example.org", "password": "equivocada-123"}
    assert client.post(f"{API}/tokens", json=body).status_code == 401
    spanish = error_of(client.post(f"{API}/tokens", json=body), 429, "rate_limited")["message"]
    assert spanish.startswith("Hiciste demasiadas solicitudes")
    english = error_of(client.post(f"{API}/tokens", json=body, headers=ENGLISH), 429, "rate_limited")[
        "message"
    ]
    assert english == "You made too many requests in a short time. Wait a moment and try again."


@pytest.mark.parametrize(
    ("english", "spanish"),
    [
        ("Length must be between 2 and 64.", "La longitud debe estar entre 2 y 64."),
        ("Longer than maximum length 200.", "Más largo que la longitud máxima, 200."),
        ("Must be greater than or equal to 1.", "Debe ser mayor o igual que 1."),
        ("Must be greater than 0.", "Debe ser mayor que 0."),
        (
            "Must be greater than 0 and less than or equal to 1000.",
            "Debe ser mayor que 0 y menor o igual que 1000.",
        ),
        (
            "Must be greater than or equal to 1 and less than or equal to 60.",
            "Debe ser mayor o igual que 1 y menor o igual que 60.",
        ),
        ("Must be one of: federal, state.", "Debe ser uno de: federal, state."),
        ("Ya en español.", "Ya en español."),
    ],
)
def test_parameterised_marshmallow_messages_keep_their_values(app, english, spanish):
    nested = {"agenda": {0: {"time": [english]}}, "title": [english]}
    with app.test_request_context(headers=SPANISH):
        assert field_messages(nested) == {"agenda": {0: {"time": [spanish]}}, "title": [spanish]}
    with app.test_request_context(headers=ENGLISH):
        assert field_messages(nested) == nested


def _marshmallow_messages() -> set[str]:
    """Every message marshmallow can put in a load error, formatted as marshmallow does."""
    found = set(ma.Schema._default_error_messages.values())
    fields = [
        cls for _, cls in inspect.getmembers(ma.fields, inspect.isclass) if issubclass(cls, ma.fields.Field)
    ]
    for cls in fields:
        for key, message in cls.__dict__.get("default_error_messages", {}).items():
            if key == "format":  # raised when dumping only
                continue
            if "{obj_type}" in message:
                for temporal in (ma.fields.DateTime, ma.fields.Date, ma.fields.Time):
                    found.add(message.replace("{obj_type}", temporal.OBJ_TYPE).replace("{awareness} ", ""))
                for aware in (ma.fields.NaiveDateTime, ma.fields.AwareDateTime):
                    found.add(message.format(awareness=aware.AWARENESS, obj_type=aware.OBJ_TYPE))
            else:
                found.add(message)
    for _, cls in inspect.getmembers(ma.validate, inspect.isclass):
        for name in ("default_message", "message_min", "message_max", "message_all", "message_equal"):
            message = cls.__dict__.get(name)
            if isinstance(message, str) and cls is not ma.validate.Range:
                found.add(message)
    for low in (True, False):
        for high in (True, False):
            bounds = ma.validate.Range(min=0, max=1, min_inclusive=low, max_inclusive=high)
            found |= {bounds.message_min, bounds.message_max, bounds.message_all}
    return found


def test_every_marshmallow_message_has_a_translation():
    missing = _marshmallow_messages() - set(MARSHMALLOW_MESSAGES)
    assert not missing, f"add to core/api_messages.MARSHMALLOW_MESSAGES: {sorted(missing)}"


REFUSALS = {
    "api_abort",
    "Unauthorized",
    "BadRequest",
    "Forbidden",
    "NotFound",
    "JSONInputError",
    "ValidationError",
}
GETTEXT = {"_", "_l", "gettext", "lazy_gettext", "ngettext"}


def _literal_texts(node: ast.AST):
    """String literals in `node` that no gettext call wraps."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in GETTEXT:
        return
    if (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr):
        yield node
        return
    children = node.values if isinstance(node, ast.Dict) else ast.iter_child_nodes(node)  # keys name fields
    for child in children:
        yield from _literal_texts(child)


def test_no_api_refusal_carries_an_untranslated_literal():
    modules = [
        *sorted({*ROOT.glob("*/api.py"), *ROOT.glob("*/*_api.py")}),
        ROOT / "core/errors.py",
        ROOT / "core/json_input.py",
        ROOT / "core/validation.py",
    ]
    assert len(modules) >= 12
    offenders, refusals = [], 0
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in REFUSALS:
                continue
            refusals += 1
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg != "code")]
            for argument in arguments:
                for literal in _literal_texts(argument):
                    offenders.append(f"{Path(path).relative_to(ROOT)}:{literal.lineno}")
    assert refusals > 70  # the walk sees the call sites
    assert not offenders, offenders
