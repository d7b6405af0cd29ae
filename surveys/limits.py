"""Rate limit on answering (answer sets, votes, ideas): per person, shared by page and API."""

from __future__ import annotations

from core.limits import limit_per_person

limit_submissions = limit_per_person(
    "LIMIT_SURVEY_SUBMISSIONS", "30 per minute;300 per hour", "survey-submit", ("PUT", "POST", "DELETE")
)
limit_submissions.__doc__ = "Limit PUT/POST/DELETE of answers per person (GETs are free)."
