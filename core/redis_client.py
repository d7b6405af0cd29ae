"""One Redis client per process for locks, health checks and ad-hoc counters."""

from __future__ import annotations

import redis
from flask import current_app


def get_redis() -> redis.Redis:
    """The app's Redis client (short timeouts so a dead Redis fails fast)."""
    client = current_app.extensions.get("promueve_redis")
    if client is None:
        client = redis.Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=2
        )
        current_app.extensions["promueve_redis"] = client
    return client
