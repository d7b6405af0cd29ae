"""Single-line fields are single-line: titles, names and the like refuse control characters,
in the API (422 naming the field) and in the pages (an error next to the field)."""

from __future__ import annotations

import inspect

import marshmallow as ma
import pytest
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, TextAreaField

from core.validation import SingleLine, SingleLineText, has_control_characters, one_line
from tests.factories import PASSWORD, login, make_institution, make_liaison, make_user

API = "/api/v1"
MULTI_LINE = {
    "description", "summary", "minutes", "body", "reason", "text", "password",
    # challenges: long texts people write in paragraphs
    "problem", "expected_outcomes", "eligibility", "prizes", "terms", "question", "answer", "comment",
    # demand: an official answer's explanation and its legal basis
    "explanation", "legal_basis",
    # surveys: a question's help text
    "help_text",
}  # fmt: skip
"""Fields where a person writes paragraphs; every other text field is one line."""


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\tb", "a\x0bb", "a\x1bb", "a\x85b", "a\u2028b", "a\x7fb"])
def test_control_characters_are_found_and_flattened(bad):
    assert has_control_characters(bad)
    assert one_line(bad) == "a b"


def test_ordinary_text_is_one_line():
    for text in ("Mesa de diálogo: datos de salud", "Ñandú — «comillas» y émojis 🎉", ""):
        assert not has_control_characters(text) and one_line(text) == text
    assert has_control_characters("uno\ndos", line_breaks_allowed=True) is False
    assert has_control_characters("uno\tdos\ntres", line_breaks_allowed=True) is True


def _text_fields(schema, prefix=""):
    schema = schema() if isinstance(schema, type) else schema
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        yield from _field_paths(field, prefix + name)


def _field_paths(field, path):
    if isinstance(field, ma.fields.Nested):
        yield from _text_fields(field.schema, path + ".")
    elif isinstance(field, ma.fields.List):
        yield from _field_paths(field.inner, path + "[]")
    elif isinstance(field, ma.fields.Dict) and field.value_field is not None:
        yield from _field_paths(field.value_field, path + "{}")
    elif isinstance(field, ma.fields.String):
        yield path, field


def test_every_one_line_field_of_every_api_body_uses_the_validator(app):
    checked = 0
    for view in app.view_functions.values():
        view_class = getattr(view, "view_class", None)
        for method in ("post", "put", "patch"):
            handler = getattr(view_class, method, None)
            for parameter in getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                if parameter["in"] != "json":
                    continue
                for path, field in _text_fields(parameter["schema"]):
                    if path.split(".")[-1] in MULTI_LINE:
                        continue
                    if any(isinstance(v, ma.validate.OneOf) for v in field.validators):
                        continue  # a fixed choice
                    checked += 1
                    assert any(isinstance(v, SingleLineText) for v in field.validators), path
    assert checked > 30


def _exists(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package is not there either
        return False


def _forms():
    import importlib
    import importlib.util

    # Every domain's forms: a new domain adds its module here.
    names = ("accounts.forms", "events.forms", "demand.forms", "surveys.forms", "challenges.forms")
    modules = [importlib.import_module(name) for name in names if _exists(name)]
    for module in modules:
        for _name, form in inspect.getmembers(module, inspect.isclass):
            if issubclass(form, FlaskForm) and form.__module__ == module.__name__:
                yield form


def test_every_one_line_field_of_every_form_uses_the_validator(app):
    checked = 0
    with app.test_request_context():
        for form_class in _forms():
            form = form_class(meta={"csrf": False})
            for field in form:
                multi = field.name in MULTI_LINE or isinstance(field, TextAreaField)
                if not isinstance(field, StringField) or isinstance(field, EmailField | PasswordField):
                    continue
                validators = [v for v in field.validators if isinstance(v, SingleLine)]
                if multi:
                    continue
                checked += 1
                assert validators, f"{form_class.__name__}.{field.name}"
    assert checked > 15


def _headers(client, email):
    response = client.post(f"{API}/tokens", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_the_api_refuses_line_breaks_with_a_422_naming_the_field(app, client):
    from tests.events.test_api import payload

    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_user("admin@example.org", admin=True)
    liaison = _headers(client, "enlace@example.org")
    admin = _headers(client, "admin@example.org")
    bad = client.post(f"{API}/events", json=payload(title="Mesa\r\nBcc: x@example.org"), headers=liaison)
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"title"}
    agenda = [{"time": "09:00", "title": "Registro\tinicial"}]
    bad = client.post(f"{API}/events", json=payload(agenda=agenda), headers=liaison)
    assert bad.status_code == 422 and "agenda" in bad.json["error"]["fields"]
    created = client.post(f"{API}/events", json=payload(), headers=liaison)
    assert created.status_code == 201
    patched = client.patch(f"{API}/events/{created.json['id']}", json={"venue": "Sede\nB"}, headers=liaison)
    assert patched.status_code == 422 and set(patched.json["error"]["fields"]) == {"venue"}
    body = {"slug": "sep", "name": "Secretaría\nde Educación", "acronym": "SEP\r"}
    bad = client.post(f"{API}/institutions", json=body, headers=admin)
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"name", "acronym"}
    bad = client.post(f"{API}/institutions", json={"slug": "sep\n", "name": "SEP"}, headers=admin)
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"slug"}
    # Paragraph fields keep their line breaks.
    ok = client.post(f"{API}/events", json=payload(description="Uno\n\nDos"), headers=liaison)
    assert ok.status_code == 201


def test_the_pages_show_the_error_next_to_the_field(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
    login(client, "enlace@example.org")
    from tests.events.test_pages import form_data

    answer = client.post("/events/new", data=form_data(title="Mesa\nde datos"))
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "Escríbelo en una sola línea, sin saltos de línea ni tabuladores." in text
    fixed = client.post("/events/new", data=form_data(title="Mesa de datos"))
    assert fixed.status_code == 302


def test_the_profile_name_refuses_a_line_break(app, client):
    from sqlalchemy import select

    from core.extensions import db
    from core.models import User

    with app.app_context():
        make_user("luis@example.org", name="Luis")
    login(client, "luis@example.org")
    data = {"name": "Luis\nPérez", "sector": "citizen", "locale": "es_MX", "timezone": "America/Mexico_City"}
    answer = client.post("/profile", data=data)
    assert "Escríbelo en una sola línea" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(User.name)).scalar_one() == "Luis"
