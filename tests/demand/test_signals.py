"""The door other domains feed demand through: replace_signals."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from demand.models import Dataset, DemandItem, DemandSignal, DemandStatus, SignalSource
from demand.services import WantedDataset, replace_signals
from tests.factories import make_institution


def _signals():
    return db.session.execute(select(DemandSignal).order_by(DemandSignal.id)).scalars().all()


def test_an_origin_adds_moves_and_withdraws_its_signals(ctx):
    institution = make_institution("inegi")
    census = Dataset(institution_id=institution.id, source_id="c-1", title="Censo de Población 2020")
    db.session.add(census)
    db.session.commit()

    first = replace_signals(
        institution.id,
        SignalSource.survey,
        "survey:1:abc",
        [WantedDataset(dataset_id=census.id), WantedDataset(title="Acuíferos por municipio")],
        sector="academia",
    )
    db.session.commit()
    assert len(first) == 2 and len(_signals()) == 2
    proposed = db.session.get(DemandItem, first[1])
    assert proposed.status == DemandStatus.received and proposed.dataset_id is None
    assert proposed.due_on is not None

    # The same answer again changes nothing; a title written differently finds the same item.
    again = replace_signals(
        institution.id,
        SignalSource.survey,
        "survey:1:abc",
        [WantedDataset(title="censo de poblacion 2020"), WantedDataset(title="ACUIFEROS  por municipio")],
    )
    db.session.commit()
    assert again == first and len(_signals()) == 2

    # The answer changes: one signal moves, the other is withdrawn.
    moved = replace_signals(
        institution.id, SignalSource.survey, "survey:1:abc", [WantedDataset(title="Calidad del aire")]
    )
    db.session.commit()
    assert [s.item_id for s in _signals()] == moved
    replace_signals(institution.id, SignalSource.survey, "survey:1:abc", [])
    db.session.commit()
    assert _signals() == []
    # Items stay: demand already said is never deleted with its signals.
    assert db.session.query(DemandItem).count() == 3


def test_weight_counts_without_a_person(ctx):
    institution = make_institution("inegi")
    replace_signals(
        institution.id,
        SignalSource.survey,
        "survey:9",
        [WantedDataset(title="Padrón de escuelas")],
        weight=37,
    )
    db.session.commit()
    (signal,) = _signals()
    assert signal.weight == 37 and signal.user_id is None
