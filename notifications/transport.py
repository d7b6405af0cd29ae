"""Getting a message out: SMTP (`SMTP_URL`) or `.eml` files when none is configured."""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

from notifications.mime import OutgoingMessage


class DeliveryError(Exception):
    """Delivery failed; `permanent` says whether trying again can help.

    `bounce` marks a permanent refusal of the recipient or the message (a 5xx after
    RCPT or DATA): it counts against the address, unlike a refused login or sender.
    """

    def __init__(self, message: str, *, permanent: bool, bounce: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.bounce = bounce and permanent


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


def _smtp_error(exc: Exception) -> DeliveryError:
    """Classify an smtplib failure: temporary, permanent, and whether the address bounced."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = all(c >= 500 for c in codes)
        return DeliveryError(f"recipient refused: {exc.recipients}", permanent=permanent, bounce=True)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Our credentials, not the recipient: keep retrying while an operator fixes them.
        return DeliveryError(f"SMTP login refused ({exc.smtp_code})", permanent=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        permanent = exc.smtp_code >= 500
        bounce = not isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPHeloError)
        return DeliveryError(f"SMTP {exc.smtp_code}: {detail}", permanent=permanent, bounce=bounce)
    return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)


def _send_prepared(client: smtplib.SMTP, message: OutgoingMessage) -> None:
    """MAIL, RCPT, DATA for a finished message: what `sendmail` does, minus re-parsing
    addresses that were validated when the account was made (ASCII, no brackets)."""
    client.ehlo_or_helo_if_needed()
    code, reply = client.docmd("mail", f"FROM:<{message.sender}>")
    if code != 250:
        _reset(client)
        raise smtplib.SMTPSenderRefused(code, reply, message.sender)
    code, reply = client.docmd("rcpt", f"TO:<{message.recipient}>")
    if code not in (250, 251):
        _reset(client)
        raise smtplib.SMTPRecipientsRefused({message.recipient: (code, reply)})
    code, reply = client.data(message.data)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPDataError(code, reply)


def _reset(client: smtplib.SMTP) -> None:
    with suppress(smtplib.SMTPServerDisconnected):
        client.rset()


class SmtpSession:
    """One SMTP connection reused for several messages (a batch), opened on first use.

    After any error the connection is dropped and the next message opens a new one, so
    a message is never re-sent on a connection in an unknown state.
    """

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.client: smtplib.SMTP | None = None
        self.lost_connection = False  # the last send failed with the connection itself

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        # Loading the CA store costs ~30 ms: only when TLS is actually used.
        context = ssl.create_default_context() if settings.use_ssl or settings.starttls else None
        if settings.use_ssl:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            if settings.starttls:
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: Message | OutgoingMessage, name: str = "") -> None:
        """Send one message (`name` is for the file transport); raises DeliveryError."""
        self.lost_connection = False
        try:
            if self.client is None:
                self.client = self._connect()
            if isinstance(message, OutgoingMessage):
                _send_prepared(self.client, message)
            else:
                self.client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
                self.lost_connection = True
                self.close()
            raise _smtp_error(exc) from exc

    def close(self) -> None:
        """Say QUIT when possible and forget the connection."""
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


class FileSession:
    """Writes each message as an `.eml` file (no SMTP_URL configured)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.lost_connection = False  # the directory cannot be written

    def send(self, message: Message | OutgoingMessage, name: str = "") -> None:
        """Write one message; raises DeliveryError."""
        self.lost_connection = False
        try:
            _write_eml(message, self.directory, name or os.urandom(8).hex())
        except OSError as exc:
            self.lost_connection = True
            raise DeliveryError(f"cannot write .eml: {exc}", permanent=False) from exc

    def close(self) -> None:
        """Nothing to release."""


def _write_eml(message: Message | OutgoingMessage, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.eml"
    # Write then rename, so a reader never sees half a message.
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))
    os.replace(tmp, target)
    return target


@contextmanager
def open_session() -> Iterator[SmtpSession | FileSession]:
    """A delivery session for the configured transport, closed at the end of the block."""
    url = current_app.config.get("SMTP_URL")
    session: SmtpSession | FileSession
    if url:
        session = SmtpSession(parse_smtp_url(url, current_app.config["SMTP_TIMEOUT"]))
    else:
        session = FileSession(Path(current_app.config["MAIL_DIR"]))
    try:
        yield session
    finally:
        session.close()


def deliver(message: Message | OutgoingMessage, *, name: str) -> None:
    """Send `message` with the configured transport; raises DeliveryError."""
    with open_session() as session:
        session.send(message, name)
