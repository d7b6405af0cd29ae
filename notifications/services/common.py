"""What the notifications modules share: settings, labels, and the session keys of the
per-transaction caches (reset with the delivery's)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from notifications import delivery
from notifications.models import Category, Channel, NotificationStatus

UNSUBSCRIBE_PURPOSE = "unsubscribe"
DIGEST_CATEGORY = "digest"


_PREFS_KEY = "promueve_notification_prefs"
_UNDELIVERABLE_KEY = "promueve_undeliverable"
# Rows added in this transaction, by model and dedupe key; and keys a batch prefetch
# found absent from the database (so no SELECT per message is needed).
_ADDED_KEY = "promueve_added_by_key"
_ABSENT_KEY = "promueve_absent_keys"
# While a ledger batch runs, new rows are collected here and inserted in bulk.
_BULK_KEY = "promueve_bulk_rows"
delivery.CACHE_KEYS.extend([_PREFS_KEY, _UNDELIVERABLE_KEY, _ADDED_KEY, _ABSENT_KEY, _BULK_KEY])


CATEGORY_LABELS = {
    Category.events: _l("Eventos: mesas de diálogo, datatones y colaboraciones"),
    Category.surveys: _l("Encuestas públicas"),
    Category.challenges: _l("Retos públicos"),
    Category.answers: _l("Respuestas a mis solicitudes de datos"),
    Category.institution: _l("El trabajo de mi institución"),
    Category.event_messages: _l("Mensajes de quienes organizan las actividades en que te registraste"),
}
CHANNEL_LABELS = {
    Channel.email: _l("Correo de inmediato"),
    Channel.daily: _l("Resumen diario por correo"),
    Channel.weekly: _l("Resumen semanal por correo"),
    Channel.in_app: _l("Solo en Promueve (campana)"),
    Channel.off: _l("No avisarme"),
}
STATUS_LABELS = {
    NotificationStatus.queued: _l("En cola"),
    NotificationStatus.sending: _l("Enviando"),
    NotificationStatus.sent: _l("Enviado"),
    NotificationStatus.failed: _l("Falló"),
    NotificationStatus.withheld: _l("Retenido"),
}
