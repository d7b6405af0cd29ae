"""A small, fast MIME writer for outbox messages.

The standard library's `email` package parses and refolds every header it is given;
at 10,000 messages a fan-out that cost more than the SMTP conversation itself. Our
messages have a fixed shape (text + HTML, optional inline parts and attachments), so
they are written directly: UTF-8 bodies in base64 (76-character lines), non-ASCII
header text as RFC 2047 encoded words of at most 75 characters, CRLF line endings.
The result parses with `email.message_from_bytes` like any other message.
"""

from __future__ import annotations

import base64
import quopri
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

CRLF = "\r\n"
_SPECIALS = set('()<>@,;:\\".[]')


@dataclass(frozen=True)
class OutgoingMessage:
    """A finished message: the envelope and the bytes to hand to SMTP (or a file)."""

    sender: str
    recipient: str
    data: bytes

    def __bytes__(self) -> bytes:
        return self.data

    def as_bytes(self) -> bytes:
        """The message as it goes on the wire (CRLF line endings)."""
        return self.data


def check_header_value(value: str) -> str:
    """Refuse line breaks (header injection); return the value unchanged."""
    if "\r" in value or "\n" in value:
        raise ValueError("a header value contains a line break")
    return value


def encoded_words(text: str, first_line_used: int = 0) -> str:
    """`text` as a header value: itself when ASCII, else folded RFC 2047 encoded words."""
    check_header_value(text)
    if text.isascii():
        return text
    # 45 bytes -> 60 base64 characters + 12 of "=?utf-8?b??=" = 72 <= 75; never cut
    # inside a character (UTF-8 continuation bytes are 0b10xxxxxx).
    data, words, start = text.encode(), [], 0
    while start < len(data):
        end = min(start + 45, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        words.append(data[start:end])
        start = end
    return (CRLF + " ").join(f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words)


def address(name: str, email: str) -> str:
    """`Name <email>` with the name quoted or encoded as needed."""
    check_header_value(name)
    check_header_value(email)
    if not name:
        return email
    if name.isascii():
        return formataddr((name, email))
    return f"{encoded_words(name)} <{email}>"


def envelope_address(header_value: str) -> str:
    """The bare address of a `Name <address>` value (for MAIL FROM)."""
    return parseaddr(header_value)[1]


def _b64_body(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", CRLF)


class Part:
    """One MIME part: headers and an already-encoded body, or children."""

    def __init__(self, content_type: str, headers: Iterable[tuple[str, str]] = (), body: str = ""):
        self.content_type = content_type
        self.headers = list(headers)
        self.body = body
        self.children: list[Part] = []

    def render(self, lines: list[str]) -> None:
        """Append this part (headers, blank line, body) to `lines`."""
        if self.children:
            boundary = "=_" + secrets.token_hex(12)
            lines.append(f'Content-Type: {self.content_type}; boundary="{boundary}"')
            lines.extend(f"{name}: {value}" for name, value in self.headers)
            lines.append("")
            for child in self.children:
                lines.append(f"--{boundary}")
                child.render(lines)
            lines.append(f"--{boundary}--")
        else:
            lines.append(f"Content-Type: {self.content_type}")
            lines.extend(f"{name}: {value}" for name, value in self.headers)
            lines.append("")
            lines.append(self.body.rstrip(CRLF))


def text_part(text: str, subtype: str, *, eight_bit: bool = False) -> Part:
    """A UTF-8 text part: quoted-printable for SMTP (mostly-ASCII Spanish stays readable and
    every line under 76 characters), or plain 8bit for the development `.eml` files, so every
    link reads whole with `less` (lines are then only kept under SMTP's 998 bytes)."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if eight_bit and all(len(line.encode()) <= 998 for line in normalized.split("\n")):
        return Part(
            f'text/{subtype}; charset="utf-8"',
            [("Content-Transfer-Encoding", "8bit")],
            normalized.replace("\n", CRLF),
        )
    encoded = quopri.encodestring(normalized.encode("utf-8"), quotetabs=False).decode("ascii")
    return Part(
        f'text/{subtype}; charset="utf-8"',
        [("Content-Transfer-Encoding", "quoted-printable")],
        encoded.replace("\n", CRLF),
    )


def attachment_part(attachment: dict[str, str]) -> Part:
    """An attached file; `data` is base64 already, so it is only re-wrapped in lines."""
    content_type = attachment.get("content_type", "application/octet-stream")
    check_header_value(content_type)
    if content_type.startswith("text/"):
        content_type += '; charset="utf-8"'
    if attachment.get("method"):
        content_type += f"; method={check_header_value(attachment['method'])}"
    filename = attachment.get("filename") or "adjunto"
    quoted = encoded_words(filename) if not filename.isascii() else filename.replace('"', "")
    headers = [("Content-Transfer-Encoding", "base64")]
    if attachment.get("content_id"):
        headers.append(("Content-ID", f"<{check_header_value(attachment['content_id'])}>"))
        headers.append(("Content-Disposition", f'inline; filename="{quoted}"'))
    else:
        headers.append(("Content-Disposition", f'attachment; filename="{quoted}"'))
    data = base64.b64decode(attachment["data"])
    return Part(f'{content_type}; name="{quoted}"', headers, _b64_body(data))


def write_message(
    headers: list[tuple[str, str]],
    *,
    text: str,
    html: str,
    attachments: list[dict[str, str]] | None = None,
    eight_bit: bool = False,
) -> bytes:
    """Headers (values already safe) and a text/HTML body, with optional attachments."""
    html_part = text_part(html, "html", eight_bit=eight_bit)
    attachments = attachments or []
    inline = [a for a in attachments if a.get("content_id")]
    files = [a for a in attachments if not a.get("content_id")]
    if inline:
        related = Part("multipart/related")
        related.children = [html_part, *(attachment_part(a) for a in inline)]
        html_part = related
    body = Part("multipart/alternative")
    body.children = [text_part(text, "plain", eight_bit=eight_bit), html_part]
    if files:
        mixed = Part("multipart/mixed")
        mixed.children = [body, *(attachment_part(a) for a in files)]
        body = mixed
    lines = [f"{name}: {value}" for name, value in headers]
    lines.append("MIME-Version: 1.0")
    body.render(lines)
    lines.append("")
    return CRLF.join(lines).encode()
