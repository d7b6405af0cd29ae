"""Email template previews for admins: samples registered by the domains, rendered in a locale."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core.exceptions import DomainError
from core.timeutil import utcnow
from core.urls import external_url
from notifications.models import Category
from notifications.services.common import CATEGORY_LABELS, DIGEST_CATEGORY
from notifications.services.rendering import _render_email


@dataclass(frozen=True)
class EmailPreview:
    template: str
    subject: Any
    sample: Callable[[], dict[str, Any]]
    category: str | None = None


_PREVIEWS: dict[str, EmailPreview] = {}


def register_preview(
    template: str,
    *,
    subject: Any,
    sample: Callable[[], dict[str, Any]] | Mapping[str, Any],
    category: str | None = None,
) -> None:
    """Give admins a preview of an email template with sample data (domains, at import)."""
    factory = sample if callable(sample) else (lambda: dict(sample))
    _PREVIEWS[template] = EmailPreview(template, subject, factory, category)


def email_templates() -> list[str]:
    """Every email template of the application (`<pkg>/email/<name>`, without extension)."""
    names = {
        name[: -len(".txt")]
        for name in current_app.jinja_env.list_templates(extensions=["txt"])
        if "/email/" in name and not name.rpartition("/")[2].startswith(("_", "base."))
    }
    return sorted(names)


@dataclass
class RenderedPreview:
    template: str
    subject: str
    text: str
    html: str
    category: str | None
    registered: bool
    error: str = ""


def render_preview(template: str, *, locale: str, timezone: str | None = None) -> RenderedPreview:
    """Render a template with its registered sample data (or placeholders) in a locale."""
    if template not in email_templates():
        raise DomainError(_l("Esa plantilla no existe."), status=404)
    preview = _PREVIEWS.get(template)
    timezone = timezone or current_app.config["DEFAULT_TIMEZONE"]
    if preview is not None:
        with force_locale(locale):
            context = preview.sample()
        subject, category = preview.subject, preview.category
    else:
        context, subject, category = _placeholder_context(template), template, None
    unsubscribe_url = external_url("notifications.unsubscribe", token="muestra") if category else ""
    try:
        rendered_subject, text, html = _render_email(
            template,
            subject=subject,
            locale=locale,
            timezone=timezone,
            name="Ana Pérez",
            email="ana.perez@example.org",
            context=context,
            category=category,
            unsubscribe_url=unsubscribe_url,
        )
    except Exception as exc:  # noqa: BLE001 - a preview shows the error instead of failing
        return RenderedPreview(template, str(subject), "", "", category, preview is not None, repr(exc))
    return RenderedPreview(template, rendered_subject, text, html, category, preview is not None)


def _placeholder_context(template: str) -> dict[str, Any]:
    from jinja2 import meta

    env = current_app.jinja_env
    names: set[str] = set()
    for extension in ("txt", "html"):
        source = env.loader.get_source(env, f"{template}.{extension}")[0]
        names |= meta.find_undeclared_variables(env.parse(source))
    return {name: f"[{name}]" for name in names if name not in env.globals}


def _register_foundation_previews() -> None:
    register_preview(
        "accounts/email/verify",
        subject=_l("Confirma tu correo en Promueve"),
        sample={"verify_url": "https://promueve.example/verify/muestra", "hours": 48},
    )
    register_preview(
        "accounts/email/reset",
        subject=_l("Restablece tu contraseña de Promueve"),
        sample={"reset_url": "https://promueve.example/password/reset/muestra", "minutes": 60},
    )
    register_preview(
        "accounts/email/account_exists",
        subject=_l("Alguien intentó crear una cuenta con tu correo"),
        sample={
            "login_url": "https://promueve.example/login",
            "reset_url": "https://promueve.example/password/forgot",
        },
    )
    register_preview(
        "accounts/email/invitation",
        subject=_l("Te invitaron a %(institution)s en Promueve", institution="INEGI"),
        sample={
            "institution": "Instituto Nacional de Estadística y Geografía (INEGI)",
            "role": "liaison",
            "inviter": "Mariana López Ortega",
            "accept_url": "https://promueve.example/invitations/muestra",
            "days": 14,
        },
    )
    register_preview(
        "notifications/email/mailbox_check",
        subject=_l("Prueba de entrega de Promueve"),
        sample={"preferences_url": "https://promueve.example/notifications/preferences"},
    )
    register_preview(
        "notifications/email/reminder",
        subject=_l("Recordatorio: %(title)s", title="Mesa de diálogo sobre datos de salud"),
        category=Category.events,
        sample=lambda: {
            "title": "Mesa de diálogo sobre datos de salud",
            "message": "Faltan 24 horas para la mesa de diálogo a la que te registraste.",
            "starts_at": utcnow() + timedelta(days=1),
            "place": "Sala 3, Av. Insurgentes Sur 1234, Ciudad de México",
            "url": "https://promueve.example/events/42",
            "institution_name": "Secretaría de Salud (SSA)",
        },
    )
    register_preview(
        "notifications/email/digest",
        subject=_l("Tu resumen diario de Promueve: %(n)s avisos", n=3),
        category=DIGEST_CATEGORY,
        sample=lambda: {
            "frequency": "daily",
            "count": 3,
            "center_url": "https://promueve.example/notifications",
            "groups": [
                {
                    "label": str(CATEGORY_LABELS[Category.events]),
                    "items": [
                        {
                            "title": "Nuevo datatón: movilidad en Guadalajara",
                            "body": "Registro abierto hasta el 15 de diciembre.",
                            "url": "https://promueve.example/events/7",
                            "created_at": utcnow() - timedelta(hours=5),
                        },
                        {
                            "title": "Recordatorio: mesa de diálogo sobre agua",
                            "body": "",
                            "url": "https://promueve.example/events/9",
                            "created_at": utcnow() - timedelta(hours=3),
                        },
                    ],
                },
                {
                    "label": str(CATEGORY_LABELS[Category.answers]),
                    "items": [
                        {
                            "title": "CONAGUA respondió a tu solicitud de datos de presas",
                            "body": "Publicará el conjunto en marzo.",
                            "url": "https://promueve.example/demand/3",
                            "created_at": utcnow() - timedelta(hours=1),
                        }
                    ],
                },
            ],
        },
    )


_register_foundation_previews()
