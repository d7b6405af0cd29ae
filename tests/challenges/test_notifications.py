"""What challenges tell people: deadline reminders on the ledger (moved with the close,
skipped for teams that submitted), official answers to every team, jury assignments and
reminders."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from challenges import services
from challenges.services import notices
from core.extensions import db
from core.timeutil import utcnow
from notifications import services as notifications
from notifications.services import scheduled_for
from tests.challenges.helpers import make_challenge, submission_data
from tests.factories import deliver_outbox, mails_to, make_institution, make_liaison, make_user


def deadline_rows(challenge):
    db.session.expire_all()
    return [r for r in scheduled_for(notices.subject_of(challenge)) if r.kind == notices.DEADLINE_KIND]


def test_deadline_reminders_48h_and_2h_move_with_the_close(app, ctx, mail_dir):
    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(
        institution, actor=liaison, closes_at=utcnow().replace(microsecond=0) + timedelta(days=4)
    )
    idle, busy = make_user("ocioso@example.org"), make_user("ocupado@example.org")
    services.create_team(idle, challenge, "Sin envío")
    busy_team = services.create_team(busy, challenge, "Con envío")
    rows = deadline_rows(challenge)
    assert {(r.recipient_id, r.offset_key) for r in rows} == {
        (idle.id, "48h"),
        (idle.id, "2h"),
        (busy.id, "48h"),
        (busy.id, "2h"),
    }
    assert {r.fire_at for r in rows if r.offset_key == "2h"} == {challenge.closes_at - timedelta(hours=2)}
    # The close moves a day later: the reminders follow.
    new_close = challenge.closes_at + timedelta(days=1)
    services.update_challenge(liaison, challenge, {"closes_at": new_close})
    pending = [r for r in deadline_rows(challenge) if r.status == "pending"]
    assert {r.fire_at for r in pending if r.offset_key == "48h"} == {new_close - timedelta(hours=48)}
    services.submit(busy, busy_team, submission_data())
    with freeze_time(new_close - timedelta(hours=47)):
        counts = notifications.fire_due_reminders()
    assert counts.get("sent") == 1 and counts.get("skipped") == 1  # the team that submitted is skipped
    deliver_outbox()
    (mail,) = [
        m for m in mails_to(mail_dir, "ocioso@example.org") if m["X-Promueve-Kind"] == notices.DEADLINE_KIND
    ]
    assert "Cierra pronto" in mail["Subject"]
    assert not [
        m for m in mails_to(mail_dir, "ocupado@example.org") if m["X-Promueve-Kind"] == notices.DEADLINE_KIND
    ]


def test_official_answers_reach_every_team(app, ctx, mail_dir):
    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(institution, actor=liaison)
    members = [make_user(f"equipo{n}@example.org") for n in range(3)]
    for n, person in enumerate(members):
        services.create_team(person, challenge, f"Equipo {n}")
    asker = make_user()
    clarification = services.ask(asker, challenge, "¿Se puede usar datos privados?")
    services.answer(liaison, clarification, "No: solo datos abiertos.")
    deliver_outbox()
    for person in members:
        (mail,) = [
            m for m in mails_to(mail_dir, person.email) if m["X-Promueve-Kind"] == "challenges.clarification"
        ]
        assert "solo datos abiertos" in mail.get_body(preferencelist=("plain",)).get_content()


def test_jurors_are_told_of_assignments_and_reminded(app, ctx, mail_dir):
    from sqlalchemy import update

    from challenges.models import Challenge

    institution = make_institution("semovi")
    liaison = make_liaison(institution)
    challenge = make_challenge(institution, actor=liaison)
    person = make_user()
    team = services.create_team(person, challenge, "Rápidos")
    services.submit(person, team, submission_data())
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge.id)
        .values(closes_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    services.close_due_challenges()
    challenge = services.get_challenge(challenge.id)
    services.start_judging(liaison, challenge)
    services.update_challenge(liaison, challenge, {"scores_due_at": utcnow() + timedelta(days=5)})
    juror = make_user("jurado@universidad.mx")
    services.add_juror(liaison, challenge, juror.email)
    services.assign(liaison, services.get_challenge(challenge.id), 1, 9)
    deliver_outbox()
    kinds = [m["X-Promueve-Kind"] for m in mails_to(mail_dir, juror.email)]
    assert "challenges.juror_added" in kinds and "challenges.assignment" in kinds
    challenge = services.get_challenge(challenge.id)
    with freeze_time(challenge.scores_due_at - timedelta(hours=47)):
        assert notifications.fire_due_reminders().get("sent") == 1
    deliver_outbox()
    assert any(m["X-Promueve-Kind"] == notices.JURY_KIND for m in mails_to(mail_dir, juror.email))
