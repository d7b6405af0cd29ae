"""The challenges tests call services in the test's app context and the API through the
client; a request then shares that context, so the client forgets the bearer user each time."""

from __future__ import annotations

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient


class FreshUserClient(FlaskClient):
    def open(self, *args, **kwargs):
        if has_app_context():
            g.pop("api_user", None)
        try:
            return super().open(*args, **kwargs)
        finally:
            if has_app_context():
                g.pop("api_user", None)


@pytest.fixture
def client(app):
    app.test_client_class = FreshUserClient
    try:
        yield app.test_client()
    finally:
        app.test_client_class = None
