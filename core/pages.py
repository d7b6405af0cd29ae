"""Platform pages that belong to no domain: home, legal texts, language, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from blinker import Namespace
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session
from flask_login import current_user
from sqlalchemy import select, text

from core.choices import LOCALES
from core.extensions import db
from core.i18n import SESSION_LOCALE_KEY
from core.models import Institution
from core.redis_client import get_redis

bp = Blueprint("core", __name__)

_signals = Namespace()
# Sent while the home page renders, with `user=`; each domain answers with what shows its life
# (a HomeSection, or a list of HomeFigure). Core imports no domain: domains subscribe.
home_sections = _signals.signal("home-sections")
home_figures = _signals.signal("home-figures")


@dataclass(frozen=True)
class HomeSection:
    """A block of the home page: a template and its context, placed by `order`."""

    order: int
    template: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeFigure:
    """One of the programme's numbers on the home page ("12 actividades realizadas")."""

    order: int
    value: str
    label: str


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to, never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@bp.get("/")
def home():
    """Landing page: what Promueve is and who takes part."""
    institutions = db.session.execute(select(Institution).order_by(Institution.name)).scalars()
    app = current_app._get_current_object()
    sections = [r for _, r in home_sections.send(app, user=current_user) if r]
    figures = [f for _, result in home_figures.send(app, user=current_user) for f in result or ()]
    return render_template(
        "core/home.html",
        institutions=list(institutions),
        sections=sorted(sections, key=lambda s: s.order),
        figures=sorted(figures, key=lambda f: f.order),
    )


@bp.get("/privacy")
def privacy():
    """The privacy notice (aviso de privacidad), versioned."""
    return render_template("core/privacy.html", version=current_app.config["PRIVACY_NOTICE_VERSION"])


@bp.get("/accessibility")
def accessibility():
    """The accessibility statement."""
    return render_template("core/accessibility.html")


@bp.post("/language")
def set_language():
    """Switch the interface language (kept in the profile when signed in)."""
    locale = request.form.get("locale", "")
    if locale in LOCALES:
        session[SESSION_LOCALE_KEY] = locale
        if current_user.is_authenticated and current_user.locale != locale:
            current_user.locale = locale
            db.session.commit()
    return redirect(safe_next(request.form.get("next") or referrer_path()))


@bp.get("/healthz")
def healthz():
    """Liveness of the database and Redis: 200 when both answer, else 503."""
    result = {"status": "ok", "database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        db.session.rollback()
        result["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
    except Exception as exc:  # noqa: BLE001
        result["redis"] = f"error: {type(exc).__name__}"
    down = [part for part in ("database", "redis") if result[part] != "ok"]
    if down:
        result["status"] = "unavailable"
        result["down"] = down
        return jsonify(result), 503
    return jsonify(result)


def referrer_path() -> str:
    """The path of the Referer header, when it is on this site."""
    ref = request.referrer
    if not ref:
        return "/"
    parts = urlsplit(ref)
    if parts.netloc and parts.netloc != request.host:
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")
