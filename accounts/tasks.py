"""Celery tasks of accounts. Each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from accounts import credentials, services


@shared_task(name=services.PASSWORD_RESET_TASK)
def send_password_reset(email: str) -> None:
    """Look the address up and email a reset link if it has an account (after the page
    answered, so its timing reveals nothing); running twice sends two valid links."""
    services.request_password_reset(email)


@shared_task(name=services.RESEND_VERIFICATION_TASK)
def resend_verification(email: str) -> None:
    """Look the address up and email a fresh verification link if it has an unverified
    account (after the page answered); running twice sends two valid links."""
    services.resend_verification(email)


@shared_task(name="accounts.purge_sessions")
def purge_sessions() -> int:
    """Forget session records ended or expired a month ago; hourly from beat."""
    return credentials.purge_sessions()
