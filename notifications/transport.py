"""Getting a message out: SMTP (`SMTP_URL`) or `.eml` files when none is configured."""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app


class DeliveryError(Exception):
    """Delivery failed; `permanent` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    use_ssl: bool
    starttls: bool
    timeout: float


def parse_smtp_url(url: str, timeout: float = 30) -> SmtpSettings:
    """`smtp://user:pass@host:587?starttls=1` or `smtps://host:465`."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    use_ssl = parts.scheme == "smtps" or query.get("ssl") in {"1", "true"}
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or (465 if use_ssl else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_ssl=use_ssl,
        starttls=query.get("starttls") in {"1", "true", "yes"},
        timeout=float(query.get("timeout", timeout)),
    )


def _send_smtp(message: EmailMessage, settings: SmtpSettings) -> None:
    context = ssl.create_default_context()
    try:
        if settings.use_ssl:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.starttls:
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(
            f"recipient refused: {exc.recipients}", permanent=all(c >= 500 for c in codes)
        ) from exc
    except smtplib.SMTPResponseException as exc:
        detail = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        raise DeliveryError(f"SMTP {exc.smtp_code}: {detail}", permanent=exc.smtp_code >= 500) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc


def _write_eml(message: EmailMessage, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.eml"
    # Write then rename, so a reader never sees half a message.
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))
    os.replace(tmp, target)
    return target


def deliver(message: EmailMessage, *, name: str) -> None:
    """Send `message` with the configured transport; raises DeliveryError."""
    url = current_app.config.get("SMTP_URL")
    if url:
        _send_smtp(message, parse_smtp_url(url, current_app.config["SMTP_TIMEOUT"]))
    else:
        try:
            _write_eml(message, Path(current_app.config["MAIL_DIR"]), name)
        except OSError as exc:
            raise DeliveryError(f"cannot write .eml: {exc}", permanent=False) from exc
