"""Rate limit on what reaches other people: clarification questions, team invitations (emails
to any address) and showcase proposals. Per person, one budget shared by pages and the API."""

from __future__ import annotations

from core.limits import limit_per_person

limit_messages = limit_per_person(
    "LIMIT_CHALLENGE_MESSAGES_PER_PERSON", "10 per minute;100 per day", "challenge-messages"
)
