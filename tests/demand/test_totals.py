"""Each item's running totals (signals per source, in all, and its supporters) stay what a
recount of its signals says: after every kind of change, under parallel supports, withdrawals,
merges and signal replacements on PostgreSQL (with a control run that must drift), and after
the migration that adds and backfills them."""

from __future__ import annotations

import importlib.util
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app import create_app
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from demand import items, totals
from demand.models import DemandItem, DemandSignal, DemandStatus, SignalSource
from demand.services import WantedDataset, replace_signals
from tests.conftest import IS_POSTGRES, ROOT, TEST_CONFIG, reset_database
from tests.demand.helpers import citizen, request
from tests.factories import make_institution, make_liaison

REVISION = "d4a6c8e0f213"
PARENT = "e5a1c3f7b920"  # the revision before the totals
MIGRATION = ROOT / "migrations" / "versions" / f"{REVISION}_demand_item_signal_totals.py"


def _kept(item_id: int) -> dict[str, int]:
    db.session.expire_all()
    row = db.session.execute(
        select(*(getattr(DemandItem, name) for name in totals.COLUMNS)).where(DemandItem.id == item_id)
    ).one()
    return dict(zip(totals.COLUMNS, row, strict=True))


def _wanted(*titles: str) -> list[WantedDataset]:
    return [WantedDataset(title=title) for title in titles]


def test_totals_follow_requests_supports_replacements_withdrawals_and_merges(ctx):
    inegi = make_institution("inegi")
    roads = request(citizen(), inegi, title="Accidentes viales por municipio")
    crashes = request(citizen(), inegi, title="Siniestros de tránsito municipales")
    ana, luis = citizen(), citizen()
    items.support(ana, roads)
    items.support(luis, roads)
    items.support(ana, crashes)
    replace_signals(inegi.id, SignalSource.event, "event:1", _wanted(roads.title, crashes.title))
    replace_signals(inegi.id, SignalSource.survey, "survey:1:k", _wanted(roads.title), weight=3)
    db.session.commit()
    assert totals.mismatches() == []
    assert _kept(roads.id) == {
        "signals_total": 7,
        "signals_request": 1,
        "signals_support": 2,
        "signals_event": 1,
        "signals_survey": 3,
        "supporters_count": 3,
    }

    # The survey answer moves to the other item with another weight; the event drops one item.
    replace_signals(inegi.id, SignalSource.survey, "survey:1:k", _wanted(crashes.title), weight=5)
    replace_signals(inegi.id, SignalSource.event, "event:1", _wanted(crashes.title))
    db.session.commit()
    items.withdraw_support(luis, roads)
    replace_signals(inegi.id, SignalSource.survey, "survey:1:k", _wanted(crashes.title), weight=2)
    db.session.commit()
    assert totals.mismatches() == []
    assert _kept(roads.id)["signals_total"] == 2 and _kept(roads.id)["supporters_count"] == 2
    assert _kept(crashes.id)["signals_survey"] == 2 and _kept(crashes.id)["signals_event"] == 1

    # Ana supports both: after the merge she counts once, and the merged item holds nothing.
    items.merge(make_liaison(inegi), crashes, roads)
    assert totals.mismatches() == []
    assert _kept(crashes.id) == dict.fromkeys(totals.COLUMNS, 0)
    assert _kept(roads.id)["supporters_count"] == 3  # both requesters and Ana
    assert items.signal_counts([roads.id])[roads.id] == {"request": 2, "support": 1, "event": 1, "survey": 2}

    # Everything an origin said, withdrawn.
    replace_signals(inegi.id, SignalSource.survey, "survey:1:k", [])
    db.session.commit()
    assert totals.mismatches() == [] and _kept(roads.id)["signals_survey"] == 0


def test_the_recount_sees_a_total_that_drifted(ctx):
    """The check the other tests rely on can fail."""
    item = request(citizen(), make_institution("inegi"))
    db.session.execute(text("UPDATE demand_item SET signals_support = 4 WHERE id = :id"), {"id": item.id})
    db.session.commit()
    ((item_id, kept, counted),) = totals.mismatches()
    assert item_id == item.id and kept[2] == 4 and counted[2] == 0


# --- in parallel, on PostgreSQL -----------------------------------------------------------------------

TITLES = [f"Conjunto de datos número {n}" for n in range(8)]


def _setup() -> dict:
    inegi = make_institution("inegi")
    made = [request(citizen(), inegi, title=title) for title in TITLES]
    people = [citizen() for _ in range(40)]
    # Ten people already support the items they will withdraw from.
    for person, item in zip(people[30:], made[1:] * 2, strict=False):
        items.support(person, item)
    replace_signals(inegi.id, SignalSource.event, "event:0", _wanted(TITLES[2], TITLES[3]), weight=2)
    db.session.commit()
    return {
        "institution": inegi.id,
        "items": [item.id for item in made],
        "people": [person.id for person in people],
        "liaison": make_liaison(inegi).id,
    }


def _jobs(data: dict, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    ids, people = data["items"], data["people"]
    jobs: list[tuple] = [("support", person, ids[0]) for person in people[:30]]  # one hot row
    jobs += [("support", person, rng.choice(ids[1:])) for person in people[:12]]
    jobs += [("withdraw", person, item) for person, item in zip(people[30:], ids[1:] * 2, strict=False)]
    for origin in range(12):
        # Each origin wants a few items in its own order; four origins are replaced twice at once.
        for _ in range(2 if origin < 4 else 1):
            wanted = rng.sample(TITLES, rng.randint(0, 3))
            jobs.append(("replace", f"event:{origin}", wanted, rng.randint(1, 4)))
    jobs += [("merge", ids[6], ids[5]), ("merge", ids[7], ids[2])]
    rng.shuffle(jobs)
    return jobs


def _run(app, data: dict, job: tuple, barrier: threading.Barrier) -> str:
    with app.app_context():
        barrier.wait()
        try:
            kind = job[0]
            if kind == "support":
                items.support(db.session.get(User, job[1]), items.get_item(job[2]))
            elif kind == "withdraw":
                items.withdraw_support(db.session.get(User, job[1]), items.get_item(job[2]))
            elif kind == "replace":
                replace_signals(
                    data["institution"], SignalSource.event, job[1], _wanted(*job[2]), weight=job[3]
                )
                db.session.commit()
            else:
                items.merge(
                    db.session.get(User, data["liaison"]), items.get_item(job[1]), items.get_item(job[2])
                )
            return "ok"
        except (DomainError, DBAPIError) as exc:
            # Refused (an item merged meanwhile), or the database stopped a collision (the same
            # origin written twice at once, a deadlock): the transaction is undone as a whole.
            db.session.rollback()
            if isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError):
                return str(exc.orig).splitlines()[0]  # e.g. "deadlock detected"
            return type(exc).__name__
        finally:
            db.session.remove()


def _burst(app, data: dict, seed: int) -> list[tuple[tuple, str]]:
    jobs = _jobs(data, seed)
    barrier = threading.Barrier(len(jobs))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(zip(jobs, pool.map(lambda job: _run(app, data, job, barrier), jobs), strict=True))


@pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")
def test_parallel_supports_withdrawals_merges_and_replacements_keep_the_totals_exact(app, ctx):
    data = _setup()
    outcomes = _burst(app, data, seed=8)
    # Only refusals (support for an item merged meanwhile) and one origin written twice at
    # the same moment (the unique constraint) may fail; the locks leave no deadlock.
    failed = [(job, outcome) for job, outcome in outcomes if outcome != "ok"]
    assert {outcome for _job, outcome in failed} <= {"DomainError", "IntegrityError"}, failed
    assert all(job[0] in ("support", "replace", "merge") for job, _outcome in failed), failed
    assert len(failed) <= len(outcomes) // 4, failed
    db.session.expire_all()
    assert totals.mismatches() == []
    # The hot row: its requester and the 30 people at once.
    assert _kept(data["items"][0])["supporters_count"] == 31
    merged = (
        db.session.execute(select(DemandItem.id).where(DemandItem.status == DemandStatus.merged))
        .scalars()
        .all()
    )
    assert sorted(merged) == sorted([data["items"][6], data["items"][7]])
    holding = db.session.execute(select(DemandSignal.id).where(DemandSignal.item_id.in_(merged))).all()
    assert holding == []  # a replacement that waited on a merge followed it
    db.session.rollback()


@pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")
def test_control_run_without_locks_drifts_from_the_recount(app, ctx):
    """Proof that the test above could see a race: read-then-write totals, no item locks."""
    app.config["DEMAND_ATOMIC_COUNTER"] = False
    drifted = []
    for attempt in range(3):
        if attempt:
            reset_database(app)
        data = _setup()
        _burst(app, data, seed=attempt)
        db.session.expire_all()
        drifted = totals.mismatches()
        db.session.rollback()
        if drifted:
            break
    assert drifted, "no drift seen without the locks"


# --- the migration ------------------------------------------------------------------------------------


def _backfill_statement() -> str:
    spec = importlib.util.spec_from_file_location("totals_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BACKFILL


def test_the_backfill_statement_recounts_every_item_on_this_database(ctx):
    inegi = make_institution("inegi")
    item = request(citizen(), inegi, title="Padrón de escuelas")
    items.support(citizen(), item)
    replace_signals(inegi.id, SignalSource.survey, "survey:3:x", _wanted("Padrón de escuelas"), weight=4)
    untouched = request(citizen(), inegi, title="Camas de hospital")
    db.session.execute(
        text("UPDATE demand_item SET signals_total = 99, supporters_count = 7, signals_survey = 0")
    )
    db.session.commit()
    assert len(totals.mismatches()) == 2
    db.session.execute(text(_backfill_statement()))
    db.session.commit()
    assert totals.mismatches() == []
    assert _kept(item.id)["signals_total"] == 6 and _kept(untouched.id)["supporters_count"] == 1


def test_the_migration_adds_and_backfills_the_totals(tmp_path: Path):
    # A SQLite file of its own whatever the suite runs on (the migration also runs on the
    # suite's database when the session starts).
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    migration_app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with migration_app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=PARENT)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO institution (id, slug, name, government_order, timezone, created_at) VALUES "
                "(1, 'inegi', 'INEGI', 'federal', 'America/Mexico_City', '2029-01-01')"
            )
        )
        for item_id, supporters in ((1, 9), (2, 0), (3, 0)):
            conn.execute(
                text(
                    "INSERT INTO demand_item (id, institution_id, kind, title, status, due_on, "
                    "supporters_count, created_at, updated_at) VALUES (:id, 1, 'publish', :title, "
                    "'received', '2029-02-01', :supporters, '2029-01-02', '2029-01-02')"
                ),
                {"id": item_id, "title": f"Conjunto {item_id}", "supporters": supporters},
            )
        for n, (item_id, source, weight) in enumerate(
            [(1, "request", 1), (1, "support", 1), (1, "event", 1), (1, "survey", 5), (2, "survey", 2)]
        ):
            conn.execute(
                text(
                    "INSERT INTO demand_signal (item_id, institution_id, source, ref, weight, created_at) "
                    "VALUES (:item, 1, :source, :ref, :weight, '2029-01-03')"
                ),
                {"item": item_id, "source": source, "ref": f"ref:{n}", "weight": weight},
            )
    engine.dispose()
    columns = ", ".join(totals.COLUMNS)
    for _ in range(2):  # and again after a downgrade
        with migration_app.app_context():
            upgrade(directory=str(ROOT / "migrations"), revision=REVISION)
        engine = create_engine(url)
        with engine.connect() as conn:
            found = {
                row[0]: tuple(row[1:])
                for row in conn.execute(text(f"SELECT id, {columns} FROM demand_item ORDER BY id"))
            }
        engine.dispose()
        # signals_total, request, support, event, survey, supporters
        assert found == {1: (8, 1, 1, 1, 5, 2), 2: (2, 0, 0, 0, 2, 0), 3: (0, 0, 0, 0, 0, 0)}
        with migration_app.app_context():
            downgrade(directory=str(ROOT / "migrations"), revision=PARENT)
