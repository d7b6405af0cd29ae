"""Official answers: the state machine, public history, audit, notifications in each
person's language, overdue commitments and the check of a published address."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry
from demand import answers, items, reports
from demand.models import DemandHistory, DemandItem, DemandStatus, UrlCheck
from demand.tasks import check_published_url
from notifications.models import Notification
from tests.conftest import free_port
from tests.demand.helpers import citizen, dataset, request
from tests.factories import deliver_outbox, mails_to, make_institution, make_liaison


@pytest.fixture
def setting(ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi, "enlace@inegi.example.org")
    asker = citizen("lucia@example.org")
    item = request(asker, inegi)
    return inegi, liaison, asker, item


def test_legal_path_to_published_with_history_and_audit(setting):
    _inegi, liaison, _asker, item = setting
    answers.answer(liaison, item, status="under_review")
    committed = date.today() + timedelta(days=30)
    answers.answer(
        liaison, item, status="scheduled", committed_on=committed, explanation="Lo publicamos en enero."
    )
    # Moving the committed date is a new scheduled entry.
    answers.answer(liaison, item, status="scheduled", committed_on=committed + timedelta(days=7))
    answers.answer(
        liaison, item, status="published", dataset_url="https://datos.gob.mx/busca/dataset/accidentes"
    )
    db.session.expire_all()
    item = db.session.get(DemandItem, item.id)
    assert item.status == DemandStatus.published
    assert item.answer.dataset_url.endswith("/accidentes") and item.answer.url_check == UrlCheck.pending
    moves = [(h.from_status, h.to_status) for h in items.history_of(item) if h.action == "status"]
    assert moves == [
        ("received", "under_review"),
        ("under_review", "scheduled"),
        ("scheduled", "scheduled"),
        ("scheduled", "published"),
    ]
    audited = (
        db.session.execute(select(AuditEntry).where(AuditEntry.action == "demand.answer")).scalars().all()
    )
    assert len(audited) == 4 and all(a.actor_id == liaison.id for a in audited)
    assert item.answer.answered_at is not None and item.answer.answered_on_time is True


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "received"),
        (["under_review"], "under_review"),
        (
            [("not_possible", {"reason_code": "personal_data", "explanation": "Datos personales."})],
            "scheduled",
        ),
        ([("published", {"dataset_url": "https://x.example.org/d"})], "under_review"),
        ([], "answered"),  # a publish request is not "answered"
        ([], "merged"),
    ],
)
def test_illegal_moves_are_refused_with_409(setting, path, illegal):
    _inegi, liaison, _asker, item = setting
    for step in path:
        status, extra = step if isinstance(step, tuple) else (step, {})
        answers.answer(liaison, item, status=status, **extra)
    with pytest.raises(DomainError) as refused:
        answers.answer(liaison, item, status=illegal, committed_on=date.today() + timedelta(days=3))
    assert refused.value.status == 409 and refused.value.code == "illegal_transition"


def test_missing_details_are_422(setting):
    _inegi, liaison, _asker, item = setting
    cases = [
        ({"status": "scheduled"}, "committed_on"),
        # Yesterday where the institution is (the machine's date is UTC: from 00:00 to 06:00
        # UTC its "yesterday" is still today in Mexico City).
        (
            {
                "status": "scheduled",
                "committed_on": answers.local_today(item.institution) - timedelta(days=1),
            },
            "committed_on",
        ),
        ({"status": "published"}, "dataset_url"),
        ({"status": "published", "dataset_url": "ftp://x.example.org/file"}, "dataset_url"),
        ({"status": "not_possible", "explanation": "No."}, "reason_code"),
        ({"status": "not_possible", "reason_code": "personal_data"}, "explanation"),
        ({"status": "not_possible", "reason_code": "personal_data", "explanation": "   "}, "explanation"),
        ({"status": "bogus"}, "status"),
    ]
    for payload, field in cases:
        with pytest.raises(DomainError) as refused:
            answers.answer(liaison, item, **payload)
        assert (refused.value.status, refused.value.field) == (422, field), payload
        db.session.rollback()
    assert db.session.get(DemandItem, item.id).status == DemandStatus.received


def test_questions_are_answered_and_not_possible_keeps_reason_and_legal_basis(ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    census = dataset(inegi)
    question = request(citizen(), inegi, kind="question", title="¿Qué es P_15YMAS?", dataset_id=census.id)
    with pytest.raises(DomainError):
        answers.answer(liaison, question, status="scheduled", committed_on=date.today() + timedelta(days=2))
    db.session.rollback()
    answers.answer(liaison, question, status="answered", explanation="Población de 15 años y más.")
    assert db.session.get(DemandItem, question.id).answer.explanation == "Población de 15 años y más."

    refused = request(citizen(), inegi, title="Nombres de beneficiarios con domicilio")
    answers.answer(
        liaison,
        refused,
        status="not_possible",
        reason_code="personal_data",
        explanation="Incluye domicilios particulares.",
        legal_basis="Art. 113 LFTAIP",
    )
    (entry,) = [h for h in items.history_of(refused) if h.action == "status"]
    assert (entry.reason_code, entry.legal_basis) == ("personal_data", "Art. 113 LFTAIP")


def test_every_supporter_and_follower_is_told_in_their_language(setting, mail_dir):
    _inegi, liaison, _asker, item = setting
    english = citizen("pat@example.org", locale="en")
    items.support(english, item)
    watcher = citizen("watcher@example.org")
    items.follow(watcher, item)
    answers.answer(
        liaison,
        item,
        status="not_possible",
        reason_code="does_not_exist",
        explanation="No se genera esa información.",
    )
    deliver_outbox()
    (spanish_mail,) = mails_to(mail_dir, "lucia@example.org")
    (english_mail,) = mails_to(mail_dir, "pat@example.org")
    assert len(mails_to(mail_dir, "watcher@example.org")) == 1
    assert "No es posible" in spanish_mail["Subject"]
    assert "Not possible" in english_mail["Subject"]
    body = english_mail.get_body(preferencelist=("plain",)).get_content()
    assert "The information does not exist" in body and "No se genera esa información." in body
    assert f"/demand/{item.id}" in body
    assert all(n.category == "answers" for n in db.session.execute(select(Notification)).scalars())


def test_a_scheduled_item_past_its_date_becomes_overdue_once(setting, mail_dir):
    inegi, liaison, _asker, item = setting
    answers.answer(liaison, item, status="scheduled", committed_on=date.today() + timedelta(days=2))
    assert answers.note_overdue_commitments() == 0
    with freeze_time(date.today() + timedelta(days=4)):
        assert answers.note_overdue_commitments() == 1
        assert answers.note_overdue_commitments() == 0
        db.session.expire_all()
        item = db.session.get(DemandItem, item.id)
        assert answers.is_overdue(item)
        assert reports.accountability(inegi)["overdue"] == 1
    deliver_outbox()
    # The requester and the liaison were told.
    assert any("fecha comprometida" in m["Subject"] for m in mails_to(mail_dir, "lucia@example.org"))
    assert any("fecha comprometida" in m["Subject"] for m in mails_to(mail_dir, "enlace@inegi.example.org"))
    overdue = (
        db.session.execute(select(DemandHistory).where(DemandHistory.action == "overdue")).scalars().all()
    )
    assert len(overdue) == 1


class _Handler(BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200 if self.path == "/ok" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_site():
    port = free_port()
    server = HTTPServer(("127.0.0.1", port), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_the_published_address_is_checked(app, setting, local_site):
    inegi, liaison, _asker, item = setting
    other = request(citizen(), inegi, title="Padrón de escuelas")
    in_catalogue = request(citizen(), inegi, title="Catálogo")
    listed = dataset(inegi, "Calidad del agua", url="https://datos.inegi.example.org/agua")
    app.config["CATALOGUE_ALLOW_PRIVATE"] = True
    answers.answer(liaison, item, status="published", dataset_url=f"{local_site}/ok")
    answers.answer(liaison, other, status="published", dataset_url=f"{local_site}/missing")
    answers.answer(liaison, in_catalogue, status="published", dataset_url=listed.url)
    ids = item.id, other.id, in_catalogue.id
    # `.run`: the task's body in this app context (the Celery app may be bound to another app).
    outcomes = [check_published_url.run(i) for i in ids]
    assert outcomes == ["ok", "failed", "catalogue"]
    # Without the development switch, private addresses are refused (no SSRF).
    app.config["CATALOGUE_ALLOW_PRIVATE"] = False
    assert check_published_url.run(ids[0]) == "failed"
    assert "non-public" in db.session.get(DemandItem, ids[0]).answer.url_check_detail
