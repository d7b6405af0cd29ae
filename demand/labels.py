"""Translated labels of the demand vocabularies (es-MX source text)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from demand.models import DemandKind, DemandStatus, IntendedUse, ReasonCode, SignalSource

KIND_LABELS = {
    DemandKind.publish: _l("Publicar datos"),
    DemandKind.question: _l("Pregunta sobre datos publicados"),
}
STATUS_LABELS = {
    DemandStatus.received: _l("Recibida"),
    DemandStatus.under_review: _l("En revisión"),
    DemandStatus.scheduled: _l("Programada"),
    DemandStatus.published: _l("Publicada"),
    DemandStatus.not_possible: _l("No es posible"),
    DemandStatus.answered: _l("Respondida"),
    DemandStatus.merged: _l("Unida a otra solicitud"),
}
SOURCE_LABELS = {
    SignalSource.request: _l("Solicitudes directas"),
    SignalSource.support: _l("Apoyos («yo también»)"),
    SignalSource.event: _l("Pedidos en actividades"),
    SignalSource.survey: _l("Respuestas de encuestas"),
}
INTENDED_USE_LABELS = {
    IntendedUse.research: _l("Investigación"),
    IntendedUse.journalism: _l("Periodismo"),
    IntendedUse.app_or_service: _l("Aplicación o servicio"),
    IntendedUse.public_policy: _l("Política pública"),
    IntendedUse.teaching: _l("Docencia"),
    IntendedUse.personal: _l("Uso personal"),
    IntendedUse.other: _l("Otro"),
}
REASON_LABELS = {
    ReasonCode.reserved_or_confidential: _l("Información reservada o confidencial"),
    ReasonCode.personal_data: _l("Contiene datos personales"),
    ReasonCode.does_not_exist: _l("La información no existe"),
    ReasonCode.not_competent: _l("No es competencia de la institución"),
    ReasonCode.other: _l("Otra razón"),
}
