"""Each signal carries its item's institution (the aggregation reads the signals alone), and the
PostgreSQL aggregation finds exactly what the portable one finds, ties in the ranking included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from demand import items, reports
from demand.models import DemandSignal, SignalSource
from demand.services import WantedDataset, replace_signals
from tests.conftest import IS_POSTGRES
from tests.demand.helpers import citizen, request
from tests.factories import make_institution, make_liaison


def _institutions() -> dict[int, int]:
    return dict(db.session.execute(select(DemandSignal.id, DemandSignal.institution_id)).all())


def test_signals_carry_their_items_institution_through_requests_support_sync_and_merge(ctx):
    inegi, salud = make_institution("inegi"), make_institution("salud")
    keep = request(citizen(), inegi, title="Accidentes viales por municipio")
    duplicate = request(citizen(), inegi, title="Siniestros de tránsito municipales")
    items.support(citizen(), duplicate)
    other = request(citizen(), salud, title="Camas de hospital por entidad")
    replace_signals(salud.id, SignalSource.event, "event:1", [WantedDataset(title="Vacunas aplicadas")])
    db.session.add(DemandSignal(item_id=other.id, source=SignalSource.survey, ref="survey:1:x", weight=2))
    db.session.commit()
    by_item = {s.item_id: s.institution_id for s in db.session.execute(select(DemandSignal)).scalars()}
    assert by_item[keep.id] == by_item[duplicate.id] == inegi.id and by_item[other.id] == salud.id
    assert set(_institutions().values()) == {inegi.id, salud.id}

    items.merge(make_liaison(inegi), duplicate, keep)
    moved = db.session.execute(select(DemandSignal).where(DemandSignal.item_id == keep.id)).scalars().all()
    assert len(moved) == 3 and {s.institution_id for s in moved} == {inegi.id}


@pytest.mark.skipif(not IS_POSTGRES, reason="the GROUPING SETS aggregation runs on PostgreSQL")
def test_postgres_aggregation_matches_the_portable_one(ctx, monkeypatch):
    monkeypatch.setattr(reports, "RANKED_ITEMS", 3)
    inegi, salud = make_institution("inegi"), make_institution("salud")
    with freeze_time(datetime(2026, 11, 20, 18, tzinfo=UTC)):
        made = [request(citizen(sector="academia"), inegi, title=f"Conjunto número {n}") for n in range(6)]
        for item in made[1:3]:
            items.support(citizen(state="Oaxaca"), item)
        items.support(citizen(), made[5])
        request(citizen(), salud, title="Camas de hospital por entidad")
        replace_signals(
            inegi.id, SignalSource.survey, "survey:1", [WantedDataset(title="Conjunto número 4")], weight=3
        )
        merged_away = request(citizen(), inegi, title="Otro conjunto duplicado")
        items.merge(make_liaison(inegi), merged_away, made[0])
    now = datetime(2026, 11, 29, 18, tzinfo=UTC)
    fast, portable = reports._collect_postgres(now, None), reports._collect_portable(now, None)
    # Four items share the total at the cut: the newest ids win, as a full sort decides.
    assert [row["total"] for row in portable.ranked[inegi.id]] == [4, 2, 2]
    assert [row["id"] for row in fast.ranked[inegi.id]] == [made[4].id, made[5].id, made[2].id]
    for name in ("ranked", "totals", "trend", "breakdowns", "daily", "supporters"):
        assert dict(getattr(fast, name)) == dict(getattr(portable, name)), name
    one = reports._collect_postgres(now, salud.id)
    assert dict(one.ranked) == {salud.id: portable.ranked[salud.id]}
