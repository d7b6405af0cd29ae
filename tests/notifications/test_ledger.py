"""The reminder ledger: schedule, supersede, cancel, fire once, skip what comes too late."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import redis
from freezegun import freeze_time
from sqlalchemy import func, select

from core.extensions import db
from core.timeutil import utcnow
from notifications import services
from notifications.models import (
    DigestItem,
    InAppNotification,
    Notification,
    ScheduledNotification,
)
from tests.conftest import IS_POSTGRES, REDIS_URL, REQUIRE_SERVICES
from tests.factories import deliver_outbox, make_user, read_mails

KIND = "test.reminder"
calls: list[int] = []


def render_reminder(row):
    calls.append(row.id)
    if row.subject == "event:started":
        return services.RenderedReminder.skip("the event already started")
    if row.subject == "event:gone":
        return None
    if row.subject == "event:broken":
        raise RuntimeError("renderer bug")
    return services.RenderedReminder(
        subject=f"Recordatorio {row.subject} ({row.checksum})",
        template="notifications/email/reminder",
        context={"title": "Mesa de diálogo", "message": "Falta poco.", "starts_at": row.fire_at},
        link="/institutions",
        summary="Mañana a las 10:00",
    )


@pytest.fixture(autouse=True)
def _renderer():
    services.register_renderer(KIND, render_reminder)
    calls.clear()
    yield


def plan(user, subject="event:1", *, offset="24h", checksum="v1", minutes=-1, **extra):
    row = services.schedule(
        kind=KIND,
        subject=subject,
        recipient=user,
        fire_at=utcnow() + timedelta(minutes=minutes),
        offset_key=offset,
        checksum=checksum,
        category="events",
        **extra,
    )
    db.session.commit()
    return row


def outbox_count() -> int:
    return db.session.execute(select(func.count()).select_from(Notification)).scalar_one()


def test_schedule_is_an_upsert_by_kind_subject_recipient_offset(app, ctx):
    user = make_user()
    first = plan(user, minutes=60)
    again = plan(user, minutes=90)  # same checksum: nothing changes, not even the time
    assert again.id == first.id and again.fire_at == first.fire_at
    other_offset = plan(user, offset="1h", minutes=30)
    assert other_offset.id != first.id
    count = db.session.execute(select(func.count()).select_from(ScheduledNotification)).scalar_one()
    assert count == 2


def test_schedule_many_is_one_upsert_built_once_per_row_count(app, ctx):
    """The bulk form keeps the rules of `schedule` (same checksum: untouched; new checksum:
    the new time and version), and reuses its compiled statement from call to call."""
    from notifications.services.ledger import _schedule_many_statements

    user, other = make_user(), make_user()
    start = utcnow().replace(microsecond=0) + timedelta(days=3)

    def rows(starts, second_checksum):
        return [
            (starts - timedelta(hours=24), "1440m", "v1"),
            (starts - timedelta(hours=1), "60m", second_checksum),
        ]

    def many(recipient, starts, second_checksum):
        return services.schedule_many(
            kind=KIND,
            subject="event:many",
            recipient=recipient,
            rows=rows(starts, second_checksum),
            category="events",
            expires_at=starts,
        )

    assert many(user, start, "v1") == 2
    hits = _schedule_many_statements.cache_info().hits
    moved = start + timedelta(hours=2)
    many(user, moved, "v2")
    many(other, start, "v1")
    db.session.commit()
    assert _schedule_many_statements.cache_info().hits == hits + 2
    found = {
        (row.recipient_id, row.offset_key): row
        for row in db.session.execute(
            select(ScheduledNotification).where(ScheduledNotification.subject == "event:many")
        ).scalars()
    }
    assert len(found) == 4
    untouched = found[(user.id, "1440m")]
    assert untouched.checksum == "v1" and untouched.fire_at == start - timedelta(hours=24)
    assert untouched.expires_at == start
    changed = found[(user.id, "60m")]
    assert changed.checksum == "v2" and changed.fire_at == moved - timedelta(hours=1)
    assert changed.expires_at == moved and changed.status == "pending"
    assert found[(other.id, "60m")].fire_at == start - timedelta(hours=1)


def test_due_row_becomes_one_outbox_row_with_the_versioned_dedupe_key(app, ctx, mail_dir):
    user = make_user("ana@example.org")
    row = plan(user)
    later = plan(make_user(), minutes=30)  # not due yet
    assert services.fire_due_reminders() == {"sent": 1}
    db.session.refresh(row)
    assert row.status == "sent" and row.outcome == "email" and row.sent_at is not None
    message = db.session.get(Notification, row.notification_id)
    assert message.dedupe_key == f"sched:{row.id}:v1" and message.category == "events"
    assert services.fire_due_reminders() == {}  # beat again: nothing to do
    assert later.status == "pending" and calls == [row.id]
    deliver_outbox()
    [mail] = read_mails(mail_dir)
    assert mail["Subject"] == "Recordatorio event:1 (v1)"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The in-app centre has it too, linking to its object.
    item = db.session.execute(select(InAppNotification)).scalar_one()
    assert (item.title, item.link, item.body) == (
        "Recordatorio event:1 (v1)",
        "/institutions",
        "Mañana a las 10:00",
    )


def test_firing_a_row_again_never_sends_twice(app, ctx):
    row = plan(make_user())
    services.fire_due_reminders()
    # A worker that died after committing, then a stale retry: the key stops a second row.
    row.status = "pending"
    db.session.commit()
    services.fire_due_reminders()
    assert outbox_count() == 1


def test_new_checksum_supersedes_and_sends_the_new_version(app, ctx):
    user = make_user()
    row = plan(user)
    services.fire_due_reminders()
    old_message = db.session.get(Notification, row.notification_id)
    assert old_message.status == "queued"
    # The event moved: the domain reschedules with a new checksum and time.
    moved = plan(user, checksum="v2", minutes=-1)
    assert moved.id == row.id and moved.status == "pending" and moved.notification_id is None
    db.session.refresh(old_message)
    assert old_message.status == "withheld"  # the unsent old version never goes out
    services.fire_due_reminders()
    db.session.refresh(moved)
    new_message = db.session.get(Notification, moved.notification_id)
    assert new_message.dedupe_key == f"sched:{row.id}:v2" and new_message.status == "queued"


def test_cancel_cancels_pending_rows_and_withholds_unsent_ones(app, ctx):
    ana, luis, eva = make_user(), make_user(), make_user()
    handed_off = plan(ana, "event:7")
    services.fire_due_reminders()
    plan(luis, "event:7", minutes=60)
    plan(eva, "event:7", minutes=60)
    plan(eva, "event:8", minutes=60)
    assert services.cancel_scheduled(subject="event:7", recipient_id=luis.id) == 1
    assert services.cancel_scheduled(subject="event:7", kind="other.kind") == 0
    assert services.cancel_scheduled(subject="event:7") == 2  # eva's pending + ana's unsent
    db.session.commit()
    statuses = {r.recipient_id: r.status for r in services.scheduled_for("event:7")}
    assert statuses == {ana.id: "cancelled", luis.id: "cancelled", eva.id: "cancelled"}
    assert db.session.get(Notification, handed_off.notification_id).status == "withheld"
    assert [r.status for r in services.scheduled_for("event:8")] == ["pending"]
    # Scheduling again (e.g. the person registers again) brings the row back.
    again = plan(luis, "event:7", minutes=-1)
    assert again.status == "pending"


def test_rows_too_late_to_be_useful_are_skipped_and_recorded(app, ctx):
    user = make_user()
    started = plan(user, "event:started")
    gone = plan(user, "event:gone")
    expired = plan(user, "event:9", expires_at=utcnow() - timedelta(seconds=1))
    assert services.fire_due_reminders() == {"skipped": 3}
    for row, reason in (
        (started, "the event already started"),
        (gone, "no longer useful"),
        (expired, "too late: past its useful time"),
    ):
        db.session.refresh(row)
        assert row.status == "skipped" and row.skip_reason == reason
    assert expired.id not in calls  # past expires_at: the renderer is not even asked
    assert outbox_count() == 0


def test_a_failing_renderer_does_not_stop_the_batch_and_gives_up_after_three(app, ctx):
    user = make_user()
    broken = plan(user, "event:broken")
    fine = plan(user, "event:fine")
    assert services.fire_due_reminders() == {"error": 1, "sent": 1}
    db.session.refresh(broken)
    db.session.refresh(fine)
    assert fine.status == "sent" and broken.status == "pending" and "renderer bug" in broken.last_error
    services.fire_due_reminders()
    assert services.fire_due_reminders() == {"failed": 1}
    db.session.refresh(broken)
    assert broken.status == "failed" and broken.attempts == 3
    assert outbox_count() == 1


def test_unknown_kind_is_an_error_not_a_crash(app, ctx):
    row = services.schedule(
        kind="nobody.renders.this",
        subject="x:1",
        recipient=make_user(),
        fire_at=utcnow(),
        offset_key="0",
        checksum="c",
        category="surveys",
    )
    db.session.commit()
    assert services.fire_due_reminders() == {"error": 1}
    db.session.refresh(row)
    assert "no renderer" in row.last_error


def test_preferences_route_due_reminders(app, ctx):
    digest_fan, quiet, bell_only = make_user(), make_user(), make_user()
    services.set_preferences(digest_fan, {"events": "daily"})
    services.set_preferences(quiet, {"events": "off"})
    services.set_preferences(bell_only, {"events": "in_app"})
    rows = [plan(digest_fan), plan(quiet), plan(bell_only)]
    services.fire_due_reminders()
    for row in rows:
        db.session.refresh(row)
    assert [r.outcome for r in rows] == ["daily", "off", "in_app"]
    assert all(r.status == "sent" and r.notification_id is None for r in rows)
    assert outbox_count() == 0
    assert db.session.execute(select(DigestItem.user_id)).scalars().all() == [digest_fan.id]
    in_app = set(db.session.execute(select(InAppNotification.user_id)).scalars())
    assert in_app == {digest_fan.id, bell_only.id}


def test_deleted_recipient_is_skipped(app, ctx):
    user = make_user()
    row = plan(user)
    user.deleted_at = utcnow()
    db.session.commit()
    services.fire_due_reminders()
    db.session.refresh(row)
    assert row.status == "skipped" and row.skip_reason == "recipient account deleted"


def test_beat_dispatches_batches_and_redispatches_only_when_stuck(app, ctx):
    app.config["REMINDER_BATCH_SIZE"] = 2
    for _ in range(5):
        plan(make_user())
    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete("default")
    start = utcnow()
    with freeze_time(start) as frozen:
        assert services.dispatch_due_reminders() == 5
        assert broker.llen("default") == 3  # batches of 2, 2 and 1
        assert services.dispatch_due_reminders() == 0  # already dispatched
        frozen.tick(timedelta(seconds=app.config["REMINDER_STUCK_AFTER_SECONDS"] + 1))
        assert services.dispatch_due_reminders() == 5  # nobody fired them: again
    ids = [r.id for r in db.session.execute(select(ScheduledNotification)).scalars()]
    assert services.fire_reminders(ids[:2]) == {"sent": 2}
    assert services.fire_reminders(ids[:2]) == {}  # a duplicated task finds nothing


@pytest.mark.skipif(not IS_POSTGRES and not REQUIRE_SERVICES, reason="row locks are tested on PostgreSQL")
def test_concurrent_batches_fire_each_row_once(app):
    """Two workers fire the same due rows at the same moment: each row is sent once."""
    with app.app_context():
        ids = [plan(make_user()).id for _ in range(40)]
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(services.fire_reminders(ids))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert sum(r.get("sent", 0) for r in results) == 40
        assert outbox_count() == 40
        keys = db.session.execute(select(Notification.dedupe_key)).scalars().all()
        assert len(set(keys)) == 40
