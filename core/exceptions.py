"""The error a service raises when a rule refuses a request."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused request with a message for the person (a lazy translated string).

    `field` names the form/API field at fault; `status` is the HTTP status the API
    answers with (409 conflict by default, 422 for invalid values).
    """

    def __init__(self, message: Any, *, field: str | None = None, status: int = 409, code: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.status = status
        self.code = code


class ValidationErrors(DomainError):
    """Every field a request got wrong, at once: `errors` maps each field to its message (422).

    A subclass of DomainError, so code that shows one refusal still shows the first of them.
    """

    def __init__(self, errors: dict[str, Any], message: Any = None):
        first_field, first_message = next(iter(errors.items()))
        super().__init__(message or first_message, field=first_field, status=422)
        self.errors = dict(errors)
