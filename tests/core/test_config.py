"""Configuration: embedded defaults, production guard, database URL normalisation."""

from __future__ import annotations

import pytest

from core.config import ConfigError, embedded_redis_url, load_config, normalise_database_url


def test_plain_postgresql_urls_get_our_driver():
    assert normalise_database_url("postgresql://u@h/db", "/x/instance") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db", "/x/instance") == "postgresql+psycopg://u@h/db"


def test_relative_sqlite_path_is_under_the_project():
    assert normalise_database_url("sqlite:///instance/p.db", "/srv/promueve/instance") == (
        "sqlite:////srv/promueve/instance/p.db"
    )


def test_embedded_defaults_when_nothing_is_configured(tmp_path, monkeypatch):
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SMTP_URL",
        "SECRET_KEY",
        "MAIL_DIR",
        "FLASK_ENV",
        "PROMUEVE_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    instance = tmp_path / "instance"
    config = load_config(str(instance))
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'promueve.db'}"
    assert config["REDIS_URL"] == embedded_redis_url() and config["REDIS_EMBEDDED"]
    assert config["MAIL_DIR"] == str(instance / "mail") and config["SMTP_URL"] == ""
    key = (instance / "secret_key").read_text()
    assert config["SECRET_KEY"] == key and len(key) > 40
    assert load_config(str(instance))["SECRET_KEY"] == key  # generated once, then reused
    assert config["SESSION_COOKIE_SECURE"] is False


def test_production_requires_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("FLASK_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        load_config(str(tmp_path / "instance"))
    monkeypatch.setenv("SECRET_KEY", "s" * 50)
    config = load_config(str(tmp_path / "instance"))
    assert config["SESSION_COOKIE_SECURE"] is True


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("BASE_URL", raising=False)
    (tmp_path / ".env").write_text("BASE_URL=https://datos.example.gob.mx/\n")
    config = load_config(str(tmp_path / "instance"))
    assert config["BASE_URL"] == "https://datos.example.gob.mx"
    monkeypatch.delenv("BASE_URL", raising=False)


def test_the_broker_is_redis_unless_celery_broker_url_names_rabbitmq(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "900")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    config = load_config(str(tmp_path / "instance"))
    assert config["CELERY"]["broker_url"] == "redis://cache.internal:6379/2"
    assert config["CELERY"]["broker_transport_options"]["visibility_timeout"] == 900

    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://promueve:s3cret@mq.internal:5672/promueve")
    config = load_config(str(tmp_path / "instance"))
    assert config["CELERY"]["broker_url"] == "amqp://promueve:s3cret@mq.internal:5672/promueve"
    assert config["CELERY"]["broker_transport_options"] == {"confirm_publish": True}
    # Rate limits, locks and the health check stay on Redis.
    assert config["REDIS_URL"] == config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/2"


def test_an_unknown_broker_url_is_refused_at_start_up_without_echoing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "kafka://user:hunter2@bus.internal:9092")
    with pytest.raises(ConfigError, match="CELERY_BROKER_URL must be") as refused:
        load_config(str(tmp_path / "instance"))
    assert "hunter2" not in str(refused.value)
