"""A real SMTP server on loopback (aiosmtpd) that records or refuses messages."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Sink:
    messages: list = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "550 5.1.1 No such user"
    hold: threading.Event | None = None  # while set, DATA is not answered
    holding: threading.Event = field(default_factory=threading.Event)
    connections: set = field(default_factory=set)  # one entry per SMTP connection that sent DATA

    async def handle_DATA(self, server, session, envelope):
        self.connections.add(session)
        while self.hold is not None and self.hold.is_set():
            self.holding.set()
            await asyncio.sleep(0.05)
            if session.peer is None or server.transport is None or server.transport.is_closing():
                return "421 gone"
        if self.refuse_with:
            return self.refuse_with
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class SmtpServer:
    """Start/stop an aiosmtpd controller on a free loopback port."""

    def __init__(self):
        self.sink = Sink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
