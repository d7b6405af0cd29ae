"""Notifications for every domain, by responsibility; the public names are re-exported here.

The outbox (`notify`), the reminder ledger (`schedule`, `cancel_scheduled`,
`register_renderer`), preferences and unsubscribe, the in-app centre, digests, delivery
operations, template previews and personal data.

Domains call only the public functions here. Functions that write inside the caller's
transaction say so; the others are one unit of work each and commit."""

from notifications.deferred import (  # noqa: F401 - messages rendered at send time
    RenderedMessage,
    register_message_renderer,
)
from notifications.delivery import (  # noqa: F401 - the outbox's public names live here too
    SEND_BATCH_TASK,
    SEND_TASK,
    SHORT_RETRY_SECONDS,
    build_message,
    enqueue,
    make_message_id,
    retry_delay,
    send_notification,
    send_notifications,
    sweep_outbox,
    wait_for_send_slot,
)
from notifications.services.common import (  # noqa: F401
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    DIGEST_CATEGORY,
    STATUS_LABELS,
    UNSUBSCRIBE_PURPOSE,
)
from notifications.services.digests import (  # noqa: F401
    digest_period,
    send_due_digests,
)
from notifications.services.inapp import (  # noqa: F401
    in_app_item,
    inbox,
    mark_all_read,
    mark_read,
    purge_old_notifications,
    unread_count,
)
from notifications.services.ledger import (  # noqa: F401
    FIRE_TASK,
    MAX_RENDER_ATTEMPTS,
    RenderedReminder,
    Renderer,
    cancel_scheduled,
    dispatch_due_reminders,
    fire_due_reminders,
    fire_reminders,
    ledger_summary,
    register_renderer,
    schedule,
    schedule_many,
    scheduled_for,
)
from notifications.services.operations import (  # noqa: F401
    masked_for_admins,
    outbox_kinds,
    outbox_message,
    outbox_rows,
    outbox_summary,
    retry_failed,
    retry_mailbox,
    retry_notification,
    withhold_notification,
)
from notifications.services.outbox import (  # noqa: F401
    notify,
    notify_in_app,
    notify_later,
    rows_in_bulk,
)
from notifications.services.personal_data import (  # noqa: F401
    erase_recipient,
    notification_data_for,
    notifications_for,
)
from notifications.services.preferences import (  # noqa: F401
    channel_for,
    mailbox_problem,
    preferences_of,
    read_unsubscribe_token,
    set_preferences,
    unsubscribe,
    unsubscribe_token,
)
from notifications.services.previews import (  # noqa: F401
    EmailPreview,
    RenderedPreview,
    email_templates,
    register_preview,
    render_preview,
)
