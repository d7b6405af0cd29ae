"""Small factories shared by the tests."""

from __future__ import annotations

import itertools
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

from accounts import services
from core.extensions import db
from core.models import Institution, User

PASSWORD = "Lluvia-de-datos-2026"
_counter = itertools.count(1)


def make_user(
    email: str | None = None,
    *,
    password: str = PASSWORD,
    verified: bool = True,
    admin: bool = False,
    name: str = "",
) -> User:
    """A committed account."""
    email = email or f"persona{next(_counter)}@example.org"
    user = services.create_user(
        email, password, name=name or email.split("@")[0], verified=verified, admin=admin
    )
    db.session.commit()
    return user


def make_institution(slug: str | None = None, **fields) -> Institution:
    """A committed institution."""
    slug = slug or f"inst{next(_counter)}"
    fields.setdefault("name", f"Institución {slug}")
    fields.setdefault("acronym", slug.upper())
    fields.setdefault("timezone", "America/Mexico_City")
    return services.create_institution(None, slug=slug, **fields)


def make_liaison(institution: Institution, email: str | None = None, role: str = "liaison") -> User:
    user = make_user(email)
    services.add_member(None, institution, user, role)
    return user


def login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def read_mails(directory: Path) -> list:
    """Every .eml written by the file transport, parsed."""
    if not directory.exists():
        return []
    parser = BytesParser(policy=policy.default)
    return [parser.parse(path.open("rb")) for path in sorted(directory.glob("*.eml"))]


def first_link(message, pattern: str) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S*" + pattern + r"\S*", body)
    assert match, f"no link matching {pattern!r} in:\n{body}"
    return match.group(0)


def deliver_outbox() -> int:
    """Run the send step for every queued row, as the worker would."""
    from sqlalchemy import select

    from notifications.models import Notification, NotificationStatus
    from notifications.services import send_notification

    ids = (
        db.session.execute(select(Notification.id).where(Notification.status == NotificationStatus.queued))
        .scalars()
        .all()
    )
    for notification_id in ids:
        send_notification(notification_id)
    return len(ids)


class QueryCounter:
    """Count SQL statements sent while the block runs."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def _count(self, *args, **kwargs):
        self.count += 1

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._count)


def make_event(institution: Institution, *, publish: bool = True, actor: User | None = None, **fields):
    """A committed event of `institution` (published unless `publish=False`), a week ahead by default."""
    from datetime import timedelta

    from core.timeutil import utcnow
    from events import services as event_services

    starts_at = fields.pop("starts_at", None) or utcnow().replace(microsecond=0) + timedelta(days=7)
    data = {
        "kind": "datathon",
        "title": "Datatón de datos abiertos",
        "summary": "Un día para trabajar con datos.",
        "format": "in_person",
        "venue": "Biblioteca Vasconcelos",
        "address": "Eje 1 Norte s/n, Buenavista, Cuauhtémoc",
        "state": "Ciudad de México",
        "starts_at": starts_at,
        "ends_at": fields.pop("ends_at", None) or starts_at + timedelta(hours=3),
        **fields,
    }
    event = event_services.create_event(actor, institution, data)
    if publish:
        event_services.publish_event(actor, event)
    return event


def attachments_of(message) -> dict[str, object]:
    """Parts of a parsed email by file name (attachments and inline images)."""
    return {part.get_filename(): part for part in message.walk() if part.get_filename()}


def mails_to(directory: Path, email: str) -> list:
    """The parsed .eml files addressed to `email`."""
    return [m for m in read_mails(directory) if m["To"].addresses[0].addr_spec == email]


def run_queued_tasks(queue: str = "default") -> list[str]:
    """Run, in this process and in order, the Celery tasks published to a Redis queue, as a
    worker would (decoding the same JSON messages); returns their names. Needs an app context."""
    import base64
    import json

    import redis
    from flask import current_app

    from tests.conftest import REDIS_URL

    broker = redis.Redis.from_url(REDIS_URL)
    celery = current_app.extensions["celery"]
    # A task runs in its own app context and session: end the caller's transaction first
    # (on SQLite it holds the write lock the task needs).
    db.session.commit()
    ran = []
    while (raw := broker.rpop(queue)) is not None:
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        name = message["headers"]["task"]
        celery.tasks[name].apply(args=args, kwargs=kwargs).get()
        ran.append(name)
    return ran


def without_csrf(html: str) -> str:
    """A page with its CSRF tokens blanked: they carry a timestamp, so two requests a second
    apart differ there and only there."""
    import re

    return re.sub(r'name="csrf_token" (type="hidden" )?value="[^"]+"', 'name="csrf_token"', html)
