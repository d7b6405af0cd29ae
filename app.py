"""create_app(): config, extensions, blueprints, CLI and error handling."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Let SQLAlchemy, not pysqlite, issue BEGIN (savepoints and locking work).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    if conn.dialect.name == "sqlite":
        # One writer at a time, taken up front: SQLite's stand-in for row locks.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Promueve application."""
    from core.config import load_config

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        static_folder=str(ROOT / "core" / "static"),
        template_folder=str(ROOT / "core" / "templates"),
    )
    from core.json_input import GuardedJSONProvider

    # Every JSON body is parsed with bounded depth and number size (no 500 on hostile input).
    app.json = GuardedJSONProvider(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_config(app.instance_path))
    if config:
        app.config.update(config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}

    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Rate limits key on the client address, so trust exactly the proxies we have.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    from core.urls import IdConverter

    app.url_map.converters["id"] = IdConverter
    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_templating(app)
    return app


def _init_extensions(app: Flask) -> None:
    from flask import request
    from flask_login import current_user

    # Every model module is imported so metadata (and Alembic) sees the whole schema.
    import accounts.models
    import challenges.models
    import demand.catalogue_models
    import demand.models
    import events.dayof_models
    import events.feed_models  # noqa: F401
    import notifications.models
    import surveys.models
    from accounts import credentials
    from core.api import api
    from core.celery_app import celery_init_app
    from core.errors import init_errors
    from core.extensions import babel, csrf, db, limiter, login_manager, migrate
    from core.i18n import select_locale, select_timezone
    from core.images import init_images

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_locale="es_MX",
        default_timezone=app.config["DEFAULT_TIMEZONE"],
        default_translation_directories=str(ROOT / "translations"),
    )
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Inicia sesión para continuar.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    # The cookies hold the key of a session record, checked on every request: ending the
    # record (logout, password change, "sign out everywhere else") ends that browser's session.
    login_manager.id_attribute = "get_session_key"

    @login_manager.user_loader
    def load_user(session_key: str):
        return credentials.load_session_user(session_key, ip=request.remote_addr)

    @app.before_request
    def load_signed_in_person() -> None:
        # Load (and note the visit of) the session before the view runs, so that write
        # never lands inside the view's own unit of work.
        if request.endpoint != "static":
            current_user._get_current_object()

    app.config.setdefault("API_SPEC_OPTIONS", {})
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    from core.urls import MAX_ID, IdConverter

    api.register_converter(
        IdConverter, lambda converter: {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    )
    celery_init_app(app)
    init_errors(app)
    init_images(app)

    import accounts.tasks  # noqa: F401 - registers the password-reset and session tasks
    import challenges.tasks  # noqa: F401 - registers the open/close task
    import demand.catalogue_tasks
    import demand.permissions
    import demand.tasks  # noqa: F401 - registers the demand tasks and deadline reminders
    import notifications.tasks  # noqa: F401 - registers the outbox tasks
    import surveys.permissions
    import surveys.services.lifecycle
    import surveys.tasks  # noqa: F401 - registers the surveys tasks


def _register_blueprints(app: Flask) -> None:
    from accounts.api import blp as accounts_api
    from accounts.views import bp as accounts_bp
    from challenges.api import blp as challenges_api
    from challenges.views import bp as challenges_bp
    from core.api import api
    from core.pages import bp as core_bp
    from demand.api import blp as demand_api
    from demand.catalogue_api import blp as catalogue_api
    from demand.catalogue_views import bp as catalogue_bp
    from demand.home import connect_home as connect_demand_home
    from demand.views import bp as demand_bp
    from events.api import blp as events_api
    from events.dayof_api import blp as events_dayof_api
    from events.feed_api import blp as calendars_api
    from events.feeds import bp as calendars_bp
    from events.home import connect_home
    from events.previews import register_event_previews
    from events.search import connect_search
    from events.views import bp as events_bp
    from notifications.api import blp as notifications_api
    from notifications.views import bp as notifications_bp
    from surveys.api import blp as surveys_api
    from surveys.views import bp as surveys_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(calendars_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(demand_bp)
    app.register_blueprint(surveys_bp)
    api.register_blueprint(accounts_api)
    api.register_blueprint(events_api)
    api.register_blueprint(events_dayof_api)
    register_event_previews()
    connect_home()
    connect_demand_home()
    connect_search()
    api.register_blueprint(calendars_api)
    app.register_blueprint(challenges_bp)
    api.register_blueprint(challenges_api)
    api.register_blueprint(notifications_api)
    api.register_blueprint(catalogue_api)
    api.register_blueprint(demand_api)
    api.register_blueprint(surveys_api)
    _wire_dataset_usage()


def _wire_dataset_usage() -> None:
    """Dataset pages (demand) list the events and stories that used a dataset (events).

    Demand must not import events, so the top floor hands it a provider.
    """
    from sqlalchemy import func, or_, select

    from core.extensions import db
    from demand.services import register_dataset_usage
    from events.models import Event, EventDataset, StoryDataset, SuccessStory, public_event_condition

    def used_in_events_and_stories(url: str | None, title: str) -> list[dict]:
        def matches(model):
            conditions = [func.lower(model.title) == title.strip().lower()]
            if url:
                conditions.append(model.url == url)
            return or_(*conditions)

        found = [
            {"kind": "event", "title": event.title, "url": f"/events/{event.id}"}
            for event in db.session.execute(
                select(Event)
                .where(
                    Event.id.in_(select(EventDataset.event_id).where(matches(EventDataset))),
                    public_event_condition(),
                )
                .order_by(Event.starts_at.desc())
                .limit(50)
            ).scalars()
        ]
        found.extend(
            {"kind": "story", "title": story.title, "url": f"/stories/{story.id}"}
            for story in db.session.execute(
                select(SuccessStory)
                .where(
                    SuccessStory.id.in_(select(StoryDataset.story_id).where(matches(StoryDataset))),
                    SuccessStory.published_at.is_not(None),
                )
                .order_by(SuccessStory.published_at.desc())
                .limit(50)
            ).scalars()
        )
        return found

    register_dataset_usage("events", used_in_events_and_stories)


def _register_cli(app: Flask) -> None:
    from accounts.cli import institutions_cli, users_cli
    from demo import seed_demo_command

    app.cli.add_command(users_cli)
    app.cli.add_command(institutions_cli)
    app.cli.add_command(seed_demo_command)


def _register_templating(app: Flask) -> None:
    from flask_login import current_user

    from core import permissions
    from core.choices import LOCALES, ROLE_LABELS
    from core.i18n import (
        current_locale_code,
        format_day,
        format_in_zone,
        html_lang,
        timezone_city,
        timezone_label,
    )
    from core.validation import count_form_errors

    app.jinja_env.globals.update(
        format_in_zone=format_in_zone,
        format_day=format_day,
        timezone_city=timezone_city,
        timezone_label=timezone_label,
        html_lang=html_lang,
        current_locale=current_locale_code,
        LOCALES=LOCALES,
        role_label=lambda role: str(ROLE_LABELS.get(role, role)),
        form_error_count=count_form_errors,
        # A domain's template may link to another domain's page only when it is installed.
        has_endpoint=lambda endpoint: endpoint in app.view_functions,
    )

    @app.context_processor
    def inject_policy():
        return {"can": lambda action, obj=None: permissions.can(current_user, action, obj)}
