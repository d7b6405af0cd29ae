"""Admins preview every events email with sample data, in both languages."""

from __future__ import annotations

import pytest

from notifications.services import email_templates, render_preview

EVENT_TEMPLATES = [
    "events/email/confirmed",
    "events/email/waitlisted",
    "events/email/registration_cancelled",
    "events/email/event_cancelled",
    "events/email/event_rescheduled",
    "events/email/reminder",
    "events/email/outcome_reminder",
    "events/email/consent_request",
    "events/email/consent_answer",
]


@pytest.mark.parametrize("locale", ["es_MX", "en"])
def test_every_events_email_renders_with_sample_data(app, locale):
    with app.test_request_context():
        assert set(EVENT_TEMPLATES) <= set(email_templates())
        for template in EVENT_TEMPLATES:
            preview = render_preview(template, locale=locale)
            assert preview.registered and not preview.error, (template, preview.error)
            assert "Datatón del Censo" in preview.text and "Datatón del Censo" in preview.subject
            assert "[" not in preview.subject
