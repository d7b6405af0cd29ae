"""Notifications of surveys (category `surveys`): opening to followers, the reminder 48 h
before the close to those who started and did not submit, results to respondents."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from accounts.services import follow_institution
from core.extensions import db
from notifications import services as notifications
from notifications.models import ScheduledNotification
from surveys import services
from surveys.models import SurveyStart
from tests.factories import deliver_outbox, mails_to, make_institution, make_user
from tests.surveys.factories import choice_id, make_survey


def kinds(mail_dir, email):
    return [m["X-Promueve-Kind"] for m in mails_to(mail_dir, email)]


def test_opening_tells_the_institutions_followers(app, ctx, mail_dir):
    inst = make_institution("conagua")
    follower, _stranger = make_user("sigo@example.org"), make_user("otra@example.org")
    follow_institution(follower, inst)
    db.session.commit()
    survey = make_survey(inst, open_now=False)
    services.open_survey(None, survey)
    deliver_outbox()
    assert kinds(mail_dir, "sigo@example.org") == ["surveys.opened"]
    assert kinds(mail_dir, "otra@example.org") == []
    mail = mails_to(mail_dir, "sigo@example.org")[0]
    assert f"/surveys/{survey.id}" in mail.get_body(preferencelist=("plain",)).get_content()
    assert mail["List-Unsubscribe"]  # a preference category, not transactional


def test_reminder_48_hours_before_the_close_only_to_who_did_not_submit(app, ctx, mail_dir):
    survey = make_survey(make_institution("conagua"))
    started, finished = make_user("empece@example.org"), make_user("termine@example.org")
    services.record_start(started, survey)
    services.record_start(finished, survey)
    services.submit_response(finished, survey, {str(survey.questions[0].id): choice_id(survey, 0, "Sí")})
    rows = db.session.execute(select(ScheduledNotification)).scalars().all()
    assert {r.fire_at for r in rows} == {survey.closes_at - timedelta(hours=48)}
    with freeze_time(survey.closes_at - timedelta(hours=47)):
        counts = notifications.fire_due_reminders()
    assert counts == {"sent": 1, "skipped": 1}
    deliver_outbox()
    assert kinds(mail_dir, "empece@example.org") == ["surveys.close_reminder"]
    assert kinds(mail_dir, "termine@example.org") == []


def test_results_go_to_respondents_even_of_anonymous_surveys(app, ctx, mail_dir):
    survey = make_survey(make_institution("conagua"), privacy="anonymous")
    answered, browsed = make_user("respondi@example.org"), make_user("mire@example.org")
    services.record_start(browsed, survey)
    services.submit_response(answered, survey, {str(survey.questions[0].id): choice_id(survey, 0, "No")})
    services.close_survey(None, survey)
    # After the close only the list of who answered remains, without times.
    starts = db.session.execute(select(SurveyStart)).scalars().all()
    assert [(s.user_id, s.started_at) for s in starts] == [(answered.id, None)]
    services.publish_results(None, services.get_survey(survey.id))
    deliver_outbox()
    assert kinds(mail_dir, "respondi@example.org") == ["surveys.results_published"]
    assert kinds(mail_dir, "mire@example.org") == []
    assert db.session.execute(select(SurveyStart)).first() is None  # served its purpose
