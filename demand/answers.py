"""Official answers: the state machine, its public history, notifications and overdue items.

received → under_review → scheduled (committed date) → published (dataset URL) |
not_possible (reason code, explanation, optional legal basis) | answered (questions).
Every change is a public history entry, is audited, and tells every supporter and
follower in their own language (category `answers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from core import audit
from core.celery_app import publish
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.timeutil import to_zone, utcnow
from core.urls import external_url
from demand import reminders
from demand.labels import REASON_LABELS, STATUS_LABELS
from demand.models import (
    DemandAnswer,
    DemandHistory,
    DemandItem,
    DemandKind,
    DemandStatus,
    ReasonCode,
    UrlCheck,
)
from notifications.models import Category
from notifications.services import notify

S = DemandStatus
# Where each status may go; the kind narrows it further.
TRANSITIONS: dict[DemandStatus, set[DemandStatus]] = {
    S.received: {S.under_review, S.scheduled, S.published, S.not_possible, S.answered},
    S.under_review: {S.scheduled, S.published, S.not_possible, S.answered},
    S.scheduled: {S.scheduled, S.published, S.not_possible},
    S.published: set(),
    S.not_possible: set(),
    S.answered: set(),
    S.merged: set(),
}
KIND_STATUSES = {
    DemandKind.publish: {S.under_review, S.scheduled, S.published, S.not_possible},
    DemandKind.question: {S.under_review, S.answered, S.not_possible},
}
DECISIONS = {S.scheduled, S.published, S.not_possible, S.answered}
EXPLANATION_MAX = 5000
LEGAL_BASIS_MAX = 2000
CHECK_TASK = "demand.check_published_url"


def _invalid(message: Any, field: str) -> DomainError:
    return DomainError(message, field=field, status=422)


def local_today(institution: Institution) -> date:
    """Today in the institution's zone."""
    return to_zone(utcnow(), institution.timezone).date()


def allowed_moves(item: DemandItem) -> list[DemandStatus]:
    """The statuses an item may move to now (for forms)."""
    return [s for s in DemandStatus if s in TRANSITIONS[item.status] and s in KIND_STATUSES[item.kind]]


def _clean_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 1000 or " " in value:
        raise _invalid(_l("Escribe la dirección completa del conjunto de datos (https://…)."), "dataset_url")
    return value


def _clean_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _invalid(_l("Escribe una fecha válida (AAAA-MM-DD)."), "committed_on") from None


def _clean_text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(_l("Escribe un texto."), field)
    value = value.strip()
    if len(value) > limit:
        raise _invalid(_l("Escribe como máximo %(n)s caracteres.", n=limit), field)
    return value or None


def answer(
    actor: User,
    item: DemandItem,
    *,
    status: Any,
    committed_on: Any = None,
    dataset_url: Any = None,
    reason_code: Any = None,
    explanation: Any = None,
    legal_basis: Any = None,
) -> DemandItem:
    """Move an item to a new official status (409 `illegal_transition`, 422 missing details)."""
    try:
        new = DemandStatus(status)
    except ValueError:
        raise _invalid(_l("Elige un estado válido."), "status") from None
    # The row lock makes two answers given at the same moment apply one after the other.
    item = db.session.execute(
        select(DemandItem).where(DemandItem.id == item.id).with_for_update(of=DemandItem)
    ).scalar_one()
    db.session.refresh(item)
    if new not in TRANSITIONS[item.status] or new not in KIND_STATUSES[item.kind]:
        raise DomainError(
            _l(
                "No se puede pasar de «%(old)s» a «%(new)s».",
                old=STATUS_LABELS[item.status],
                new=STATUS_LABELS.get(new, new),
            ),
            status=409,
            code="illegal_transition",
            field="status",
        )
    committed = _clean_date(committed_on)
    url = _clean_url(dataset_url)
    text = _clean_text(explanation, "explanation", EXPLANATION_MAX)
    basis = _clean_text(legal_basis, "legal_basis", LEGAL_BASIS_MAX)
    reason = None
    today = local_today(item.institution)
    if new == S.scheduled:
        if committed is None:
            raise _invalid(_l("Indica la fecha comprometida de publicación."), "committed_on")
        if committed < today:
            raise _invalid(_l("La fecha comprometida no puede estar en el pasado."), "committed_on")
        if item.status == S.scheduled and item.answer and committed == item.answer.committed_on:
            raise _invalid(_l("Esa ya es la fecha comprometida."), "committed_on")
    if new == S.published and url is None:
        raise _invalid(_l("Indica la dirección donde se publicó el conjunto de datos."), "dataset_url")
    if new == S.not_possible:
        if reason_code not in {r.value for r in ReasonCode}:
            raise _invalid(_l("Elige la razón por la que no es posible."), "reason_code")
        reason = ReasonCode(reason_code)
        if not text:
            raise _invalid(
                _l("Explica la respuesta: es pública y la reciben quienes la pidieron."), "explanation"
            )
    if new == S.answered and not text:
        raise _invalid(_l("Escribe la respuesta a la pregunta."), "explanation")

    record = item.answer
    if record is None:
        record = DemandAnswer(item_id=item.id)
        db.session.add(record)
        item.answer = record
    old = item.status
    item.status = new
    item.updated_at = utcnow()
    if new == S.scheduled:
        record.committed_on = committed
        record.overdue_noted_on = None
    if new == S.published:
        record.dataset_url = url
        record.url_check = UrlCheck.pending
        record.url_checked_at = None
        record.url_check_detail = None
    if new in (S.not_possible, S.answered) or text:
        record.explanation = text
    if new == S.not_possible:
        record.reason_code = reason
        record.legal_basis = basis
    if new in DECISIONS and record.answered_at is None:
        record.answered_at = utcnow()
        record.answered_on_time = today <= item.due_on
    entry = DemandHistory(
        item_id=item.id,
        actor_id=actor.id,
        action="status",
        from_status=str(old),
        to_status=str(new),
        committed_on=committed if new == S.scheduled else None,
        dataset_url=url if new == S.published else None,
        reason_code=str(reason) if reason else None,
        explanation=text,
        legal_basis=basis if new == S.not_possible else None,
    )
    db.session.add(entry)
    audit.record(
        "demand.answer",
        item,
        actor=actor,
        details={
            "from": str(old),
            "to": str(new),
            **({"committed_on": committed.isoformat()} if committed and new == S.scheduled else {}),
            **({"reason_code": str(reason)} if reason else {}),
        },
    )
    reminders.sync_deadline(item)
    db.session.flush()
    tell_audience(item, entry)
    db.session.commit()
    if new == S.published:
        enqueue_url_check(item.id)
    return item


def enqueue_url_check(item_id: int) -> None:
    """Ask the worker to check a published dataset's address (after commit)."""
    if current_app.extensions.get("celery") is None:
        return
    try:
        publish(CHECK_TASK, [item_id])
    except Exception:  # noqa: BLE001 - broker down: the hourly sweep checks pending ones
        current_app.logger.warning("could not enqueue the URL check of item %s", item_id)


def _lazy(func) -> LazyString:
    return LazyString(func)


def _subject(item: DemandItem, entry: DemandHistory) -> LazyString:
    title = item.title
    if entry.action == "merged_from":
        return _lazy(lambda: _("Se unió otra solicitud a «%(title)s»", title=title))
    if entry.action == "overdue":
        return _lazy(lambda: _("Venció la fecha comprometida de «%(title)s»", title=title))
    if entry.action == "due_moved":
        return _lazy(lambda: _("Cambió la fecha límite de «%(title)s»", title=title))
    status = entry.to_status
    return _lazy(
        lambda: _("«%(title)s»: %(status)s", title=title, status=STATUS_LABELS[DemandStatus(status)])
    )


def tell_audience(item: DemandItem, entry: DemandHistory, *, extra: Iterable[User] = ()) -> int:
    """Tell every supporter and follower (and `extra` people) about a history entry.

    Inside the caller's transaction: one outbox row (or digest or in-app entry) per
    person, rendered in their language and zone; a second call changes nothing.
    """
    from demand.items import audience

    people = {user.id: user for user in audience(item.id)}
    for user in extra:
        people.setdefault(user.id, user)
    if entry.action == "overdue":
        for user in reminders.institution_people(item.institution_id):
            people.setdefault(user.id, user)
    context = {
        "item_title": item.title,
        "item_url": external_url("demand.detail", item_id=item.id),
        "institution_name": item.institution.display_name,
        "action": entry.action,
        "to_status": entry.to_status,
        "committed_on": entry.committed_on.isoformat() if entry.committed_on else None,
        "dataset_url": entry.dataset_url,
        "reason_code": entry.reason_code,
        "explanation": entry.explanation,
        "legal_basis": entry.legal_basis,
        "due_on": entry.due_on.isoformat() if entry.due_on else None,
        "other_item_id": entry.other_item_id,
    }
    subject = _subject(item, entry)
    for user in people.values():
        notify(
            to=user,
            kind="demand.answer",
            subject=subject,
            template="demand/email/answer",
            dedupe_key=f"demand:{item.id}:history:{entry.id}:{user.id}",
            context=context,
            category=Category.answers,
            link=f"/demand/{item.id}",
            summary=subject,
        )
    return len(people)


def reason_label(code: str | None) -> str:
    return str(REASON_LABELS.get(code, "")) if code else ""


# --- overdue commitments and deadlines moved --------------------------------------------------------


def note_overdue_commitments() -> int:
    """Scheduled items whose committed date passed: a public entry, and everyone is told once."""
    count = 0
    rows = db.session.execute(
        select(DemandItem)
        .join(DemandAnswer, DemandAnswer.item_id == DemandItem.id)
        .where(
            DemandItem.status == S.scheduled,
            # Coarse filter in UTC (no zone is more than a day ahead); exact check below.
            DemandAnswer.committed_on < utcnow().date() + timedelta(days=1),
            or_(
                DemandAnswer.overdue_noted_on.is_(None),
                DemandAnswer.overdue_noted_on != DemandAnswer.committed_on,
            ),
        )
        .order_by(DemandItem.id)
    ).scalars()
    for item in list(rows):
        record = item.answer
        if record.committed_on is None or record.committed_on >= local_today(item.institution):
            continue
        if record.overdue_noted_on == record.committed_on:
            continue
        record.overdue_noted_on = record.committed_on
        entry = DemandHistory(item_id=item.id, action="overdue", committed_on=record.committed_on)
        db.session.add(entry)
        audit.record("demand.overdue", item, details={"committed_on": record.committed_on.isoformat()})
        db.session.flush()
        tell_audience(item, entry)
        db.session.commit()
        count += 1
    return count


def is_overdue(item: DemandItem, today: date | None = None) -> bool:
    """Waiting past its first-answer deadline, or scheduled past its committed date."""
    today = today or local_today(item.institution)
    if item.status in (S.received, S.under_review):
        return item.due_on < today
    if item.status == S.scheduled and item.answer and item.answer.committed_on:
        return item.answer.committed_on < today
    return False


def move_deadline(actor: User, item: DemandItem, due_on: Any, reason: Any) -> DemandItem:
    """An admin moves an item's first-answer deadline; its reminders move with it."""
    new = _clean_date(due_on)
    if new is None:
        raise _invalid(_l("Indica la nueva fecha límite."), "due_on")
    text = _clean_text(reason, "reason", EXPLANATION_MAX)
    if not text:
        raise _invalid(_l("Explica por qué cambia la fecha límite."), "reason")
    if item.status not in (S.received, S.under_review):
        raise DomainError(_l("La solicitud ya tiene respuesta."), code="illegal_transition")
    if new == item.due_on:
        raise _invalid(_l("Esa ya es la fecha límite."), "due_on")
    old = item.due_on
    item.due_on = new
    entry = DemandHistory(
        item_id=item.id, actor_id=actor.id, action="due_moved", due_on=new, explanation=text
    )
    db.session.add(entry)
    audit.record(
        "demand.deadline.move", item, actor=actor, details={"from": old.isoformat(), "to": new.isoformat()}
    )
    reminders.sync_deadline(item)
    db.session.flush()
    tell_audience(item, entry)
    db.session.commit()
    return item


def recompute_deadlines(first: date, last: date) -> int:
    """After the non-working days changed: open items whose window covers them get new due dates."""
    from demand.deadlines import add_working_days

    count = 0
    rows = db.session.execute(
        select(DemandItem).where(
            DemandItem.status.in_([S.received, S.under_review]), DemandItem.due_on >= first
        )
    ).scalars()
    for item in list(rows):
        institution = item.institution
        received_on = to_zone(item.created_at, institution.timezone).date()
        if received_on > last:
            continue
        if db.session.execute(
            select(DemandHistory.id).where(
                DemandHistory.item_id == item.id, DemandHistory.action == "due_moved"
            )
        ).first():
            continue  # a deadline an admin set by hand stays as set
        due = add_working_days(received_on, institution.answer_days)
        if due != item.due_on:
            item.due_on = due
            reminders.sync_deadline(item)
            count += 1
    return count


# --- published URL check -------------------------------------------------------------------------------


def record_url_check(item_id: int, outcome: UrlCheck, detail: str | None) -> DemandAnswer | None:
    """Store what the check of a published address found (a public history entry when it fails)."""
    item = db.session.get(DemandItem, item_id)
    if item is None or item.status != S.published or item.answer is None:
        return None
    record = item.answer
    record.url_check = outcome
    record.url_check_detail = (detail or "")[:300] or None
    record.url_checked_at = utcnow()
    db.session.add(
        DemandHistory(
            item_id=item.id, action="url_checked", dataset_url=record.dataset_url, explanation=str(outcome)
        )
    )
    db.session.commit()
    return record


# --- admin: extra non-working days -----------------------------------------------------------------------


def non_working_days() -> list[Any]:
    """The extra non-working days, latest first."""
    from demand.models import NonWorkingDay

    return list(db.session.execute(select(NonWorkingDay).order_by(NonWorkingDay.day.desc())).scalars())


def add_non_working_day(actor: User, day: Any, description: Any) -> int:
    """An admin adds a non-working day; open deadlines it falls in move (and their reminders)."""
    from demand.models import NonWorkingDay

    day = _clean_date(day)
    if day is None:
        raise _invalid(_l("Indica el día."), "day")
    text = _clean_text(description, "description", 200)
    if not text:
        raise _invalid(_l("Describe el día (por ejemplo, el acuerdo que lo declara)."), "description")
    if db.session.get(NonWorkingDay, day) is not None:
        raise _invalid(_l("Ese día ya está en la lista."), "day")
    db.session.add(NonWorkingDay(day=day, description=text))
    db.session.flush()
    audit.record(
        "demand.non_working_day.add", None, actor=actor, details={"day": day.isoformat(), "description": text}
    )
    moved = recompute_deadlines(day, day)
    db.session.commit()
    return moved


def remove_non_working_day(actor: User, day: date) -> int:
    """An admin removes a non-working day; open deadlines move back."""
    from demand.models import NonWorkingDay

    row = db.session.get(NonWorkingDay, day)
    if row is None:
        return 0
    db.session.delete(row)
    db.session.flush()
    audit.record("demand.non_working_day.remove", None, actor=actor, details={"day": day.isoformat()})
    moved = recompute_deadlines(day - timedelta(days=90), day)
    db.session.commit()
    return moved


def set_answer_days(actor: User, institution: Institution, days: Any) -> Institution:
    """An admin sets the working days an institution has for a first answer (new requests)."""
    try:
        value = int(days)
    except (TypeError, ValueError):
        raise _invalid(_l("Escribe un número de días hábiles entre 1 y 60."), "answer_days") from None
    if not 1 <= value <= 60:
        raise _invalid(_l("Escribe un número de días hábiles entre 1 y 60."), "answer_days")
    old = institution.answer_days
    institution.answer_days = value
    audit.record("demand.answer_days", institution, actor=actor, details={"from": old, "to": value})
    db.session.commit()
    return institution
