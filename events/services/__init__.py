"""The events workflow, by responsibility; the public names are re-exported here.

Lifecycle and editing, registration under a capacity lock, check-in, outcomes,
commitments and success stories, institutions' consent, lists and personal data.
Each public function is one unit of work."""

from events.services.checkin import (  # noqa: F401
    Attendance,
    CheckIn,
    attendance,
    attendee_csv,
    check_in,
    check_in_closed_reason,
    record_walk_in,
    registrations_of,
    waitlist_positions,
)
from events.services.common import (  # noqa: F401
    CHECK_IN_OPENS_BEFORE,
    CODE_ALPHABET,
    CODE_LENGTH,
    COMMITMENT_STATUS_LABELS,
    CONSENT_LABELS,
    DEFAULT_REMINDER_OFFSETS,
    FORMAT_LABELS,
    KIND_LABELS,
    LOCK_SETTING,
    MAX_EVENT_LENGTH,
    MAX_REMINDER_MINUTES,
    PAGE_SIZE,
    QUESTION_KIND_LABELS,
    REGISTRATION_STATUS_LABELS,
    STATUS_LABELS,
    RegistrationState,
    SeatCounts,
    confirmed_registrations,
    counts_for,
    event_managers,
    get_event,
    has_seat,
    institution_people,
    managed_institutions,
    new_code,
    normalise_code,
    public_events,
    registration_state,
    seat_counts,
    seats_left,
)
from events.services.consent import (  # noqa: F401
    ConsentRequests,
    answer_cohost,
    answer_responsibility,
    consent_requests,
    get_cohost,
    visible_cohosts,
)
from events.services.editing import (  # noqa: F401
    CALENDAR_FIELDS,
    EVENT_FIELDS,
    TRANSITIONS,
    cancel_event,
    complete_event,
    create_event,
    delete_draft,
    publish_event,
    reschedule_event,
    update_event,
)
from events.services.listing import (  # noqa: F401
    EventFilters,
    MonthDay,
    Page,
    institution_events_condition,
    institutions_for_filters,
    list_events,
    list_stories,
    month_calendar,
    my_registrations,
)
from events.services.messages import (  # noqa: F401
    attachment_name,
    email_context,
    event_url,
    ics_attachment,
    ics_bytes,
    map_url,
    qr_png,
    qr_svg_data_uri,
    render_outcome_reminder,
    render_reminder,
)
from events.services.outcomes import (  # noqa: F401
    add_commitment,
    get_story,
    public_commitments,
    record_outcome,
    save_story,
    set_story_published,
    story_of,
    update_commitment,
)
from events.services.personal_data import (  # noqa: F401
    erase_registrations,
    export_registrations,
)
from events.services.registration import (  # noqa: F401
    cancel_registration,
    register,
    registration_for,
    waitlist_position,
)
