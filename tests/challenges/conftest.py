"""The challenges tests call services in the test's app context and the API through the
client; a request then shares that context, so the client forgets the bearer user each time."""

from __future__ import annotations

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from flask_babel import refresh


def _forget_request_state() -> None:
    if has_app_context():
        for name in ("api_user", "_login_user"):
            g.pop(name, None)
        refresh()


class FreshUserClient(FlaskClient):
    def open(self, *args, **kwargs):
        _forget_request_state()
        try:
            return super().open(*args, **kwargs)
        finally:
            _forget_request_state()


@pytest.fixture
def client(app):
    app.test_client_class = FreshUserClient
    try:
        yield app.test_client()
    finally:
        app.test_client_class = None
