"""The append-only audit log: who did what to which object, and when."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core.extensions import db
from core.models import AuditEntry, User


def record(
    action: str,
    obj: Any = None,
    *,
    actor: User | None = None,
    institution_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current unit of work (committed with it)."""
    if actor is None and current_user and getattr(current_user, "is_authenticated", False):
        actor = current_user._get_current_object()
    if institution_id is None and obj is not None:
        institution_id = getattr(obj, "institution_id", None)
        if institution_id is None and type(obj).__name__ == "Institution":
            institution_id = obj.id
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "platform",
        object_id=str(obj.id) if obj is not None and getattr(obj, "id", None) else None,
        institution_id=institution_id,
        details=details or {},
    )
    db.session.add(entry)
    return entry


# --- reading the log: actions in words, objects as links -----------------------------------
# Each domain describes its own actions and objects (core imports no domain).

_ACTION_LABELS: dict[str, Any] = {}
_OBJECT_LINKS: dict[str, Callable[[str], str | None]] = {}
_OBJECT_NAMES: dict[str, Any] = {"platform": _l("plataforma")}

# The keys domains put in `details`, in words (a key not here shows as itself).
DETAIL_LABELS: dict[str, Any] = {
    "approved": _l("Aprobada"),
    "attendance": _l("Asistencia"),
    "audience": _l("Destinatarios"),
    "automatic": _l("Automática"),
    "award": _l("Premio"),
    "awards": _l("Premios"),
    "certificate_withdrawn": _l("Constancia retirada"),
    "challenge_id": _l("Reto"),
    "checked_in_at": _l("Entrada registrada"),
    "clarification_id": _l("Pregunta"),
    "code": _l("Código"),
    "commitment_id": _l("Acuerdo"),
    "committed_on": _l("Fecha comprometida"),
    "count": _l("Cantidad"),
    "day": _l("Día"),
    "description": _l("Descripción"),
    "eligible": _l("Elegible"),
    "email": _l("Correo"),
    "fields": _l("Campos"),
    "first": _l("Primera vez"),
    "from": _l("Antes"),
    "idea": _l("Idea"),
    "image_id": _l("Imagen"),
    "institution": _l("Institución"),
    "into": _l("Unida con"),
    "invitation_id": _l("Invitación"),
    "juror_id": _l("Jurado"),
    "kind": _l("Tipo"),
    "membership_id": _l("Membresía"),
    "message_id": _l("Mensaje"),
    "name": _l("Nombre"),
    "note": _l("Nota"),
    "per_submission": _l("Jurados por solución"),
    "privacy": _l("Privacidad"),
    "published": _l("Publicada"),
    "question": _l("Pregunta"),
    "reason": _l("Motivo"),
    "reason_code": _l("Motivo (código)"),
    "recipients": _l("Destinatarios"),
    "registration_id": _l("Registro"),
    "rfc": _l("RFC"),
    "role": _l("Rol"),
    "seed": _l("Semilla del sorteo"),
    "sessions": _l("Sesiones"),
    "short": _l("Faltan jurados"),
    "slug": _l("Identificador"),
    "status": _l("Estado"),
    "story_id": _l("Historia"),
    "subject": _l("Asunto"),
    "team": _l("Equipo"),
    "team_id": _l("Equipo"),
    "terms_version": _l("Versión de los términos"),
    "title": _l("Título"),
    "to": _l("Después"),
    "url": _l("URL"),
    "user_id": _l("Persona"),
    "values": _l("Valores"),
    "version": _l("Versión"),
    "via": _l("Por medio de"),
    "walk_in": _l("Sin registro previo"),
}


# Coded values of details in words, per (action, key): the same code may read differently in
# two domains ("published": an event is «Publicada», a challenge «Publicado»).
_VALUE_LABELS: dict[tuple[str, str], dict[str, Any]] = {}


def describe_actions(labels: Mapping[str, Any]) -> None:
    """Register how actions read in the log (`{"event.publish": _l("publicó la actividad")}`)."""
    _ACTION_LABELS.update(labels)


def describe_values(actions: Iterable[str], key: str, labels: Mapping[Any, Any]) -> None:
    """Register how the coded values of a detail key read in these actions' entries, with the
    labels the domain already shows for them (`describe_values(["demand.request"], "kind",
    KIND_LABELS)`)."""
    words = {str(code): label for code, label in labels.items()}
    for action in actions:
        _VALUE_LABELS.setdefault((action, key), {}).update(words)


def link_objects(object_type: str, build: Callable[[str], str | None]) -> None:
    """Register how to link an object of `object_type` from its id (None: no page)."""
    _OBJECT_LINKS[object_type] = build


def name_objects(names: Mapping[str, Any]) -> None:
    """Register how object types read in the log (`{"event": _l("actividad")}`)."""
    _OBJECT_NAMES.update(names)


def object_name(entry: AuditEntry) -> str:
    """The entry's object type in words (the type itself when unnamed)."""
    name = _OBJECT_NAMES.get(entry.object_type)
    return str(name) if name is not None else entry.object_type


def detail_label(key: str) -> str:
    """A key of an entry's details in words (the key itself when unknown)."""
    label = DETAIL_LABELS.get(key)
    return str(label) if label is not None else key


def detail_value(action: str, key: str, value: Any) -> Any:
    """A detail's value in words when it is a described code of that key in that action's
    entries, in the current language; any other value as it is."""
    if not isinstance(value, str):
        return value
    label = _VALUE_LABELS.get((action, key), {}).get(value)
    return str(label) if label is not None else value


def action_label(action: str) -> str:
    """An action in words, in the current language (the code itself when undescribed)."""
    label = _ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def known_actions() -> list[tuple[str, str]]:
    """Every described action with its words, sorted by the words (for filters)."""
    return sorted(((code, str(label)) for code, label in _ACTION_LABELS.items()), key=lambda item: item[1])


def object_link(entry: AuditEntry) -> str | None:
    """A link to the entry's object, when it has a page and still exists."""
    build = _OBJECT_LINKS.get(entry.object_type)
    if build is None or not entry.object_id:
        return None
    try:
        return build(entry.object_id)
    except Exception:  # noqa: BLE001 - a log line must render even if its object's page cannot
        return None
