"""Survey tests call the API while holding an app context for factories; each request
must authenticate afresh (flask `g` belongs to that shared context)."""

from __future__ import annotations

import pytest
from flask import g


class FreshClient:
    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(*args, **kwargs):
            g.pop("api_user", None)
            return method(*args, **kwargs)

        return call


@pytest.fixture
def client(app, ctx):
    return FreshClient(app.test_client())
