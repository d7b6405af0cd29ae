"""Requests, support, follow, similar items and merges."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry
from demand import items
from demand.models import DemandFollow, DemandHistory, DemandItem, DemandSignal, DemandStatus, SignalSource
from demand.services import WantedDataset, replace_signals
from tests.demand.helpers import citizen, dataset, request
from tests.factories import make_institution, make_liaison, make_user


def test_a_request_creates_an_item_with_its_signal_due_date_and_history(ctx):
    inegi = make_institution("inegi")
    lucia = citizen(sector="journalism", state="Oaxaca")
    item = request(lucia, inegi, description="Mensual, por municipio", intended_use="journalism")
    assert item.status == DemandStatus.received and item.created_by_id == lucia.id
    assert item.supporters_count == 1 and item.due_on is not None
    (signal,) = db.session.execute(select(DemandSignal)).scalars()
    assert (signal.source, signal.ref, signal.sector, signal.state, signal.intended_use) == (
        SignalSource.request,
        f"user:{lucia.id}",
        "journalism",
        "Oaxaca",
        "journalism",
    )
    history = items.history_of(item)
    assert [h.action for h in history] == ["created"]
    assert items.is_following(lucia, item)
    assert "demand.request" in db.session.execute(select(AuditEntry.action)).scalars().all()


def test_only_verified_people_request_or_support(ctx):
    inegi = make_institution("inegi")
    unverified = make_user(verified=False)
    with pytest.raises(DomainError) as refused:
        request(unverified, inegi)
    assert refused.value.status == 403
    db.session.rollback()
    item = request(citizen(), inegi)
    with pytest.raises(DomainError):
        items.support(unverified, item)


def test_bad_input_is_refused_with_its_field(ctx):
    inegi = make_institution("inegi")
    lucia = citizen()
    for fields, field in (
        ({"kind": "complain"}, "kind"),
        ({"intended_use": "fun"}, "intended_use"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"kind": "question"}, "dataset"),
        ({"dataset_id": 999}, "dataset"),
    ):
        with pytest.raises(DomainError) as refused:
            request(lucia, inegi, **fields) if "title" not in fields else items.file_request(
                lucia, inegi, kind="publish", intended_use="research", **fields
            )
        assert refused.value.field == field and refused.value.status == 422
        db.session.rollback()


def test_the_same_dataset_asked_twice_is_one_item_with_two_supporters(ctx):
    inegi = make_institution("inegi")
    census = dataset(inegi)
    first = request(citizen(), inegi, title="Censo", dataset_id=census.id)
    second, created = items.file_request(
        citizen(),
        inegi,
        kind="publish",
        title="El censo otra vez",
        intended_use="teaching",
        dataset_id=census.id,
    )
    assert not created and second.id == first.id and second.supporters_count == 2
    # Written differently, a proposed title still finds its item.
    a = request(citizen(), inegi, title="Calidad del aire por hora")
    b = request(citizen(), inegi, title="CALIDAD del  aire por hora")
    assert a.id == b.id and b.supporters_count == 2


def test_each_question_is_its_own_item_on_the_dataset(ctx):
    inegi = make_institution("inegi")
    census = dataset(inegi)
    q1 = request(
        citizen(), inegi, kind="question", title="¿Qué significa la columna P_15YMAS?", dataset_id=census.id
    )
    q2 = request(citizen(), inegi, kind="question", title="¿Por qué faltan municipios?", dataset_id=census.id)
    publish = request(citizen(), inegi, title="Censo por manzana", dataset_id=census.id)
    assert len({q1.id, q2.id, publish.id}) == 3


def test_similar_open_items_and_catalogue_titles_are_suggested(ctx):
    inegi = make_institution("inegi")
    dataset(inegi, "Accidentes de tránsito terrestre en zonas urbanas")
    dataset(inegi, "Directorio de escuelas")
    existing = request(citizen(), inegi, title="Accidentes de tránsito por municipio")
    found = items.similar_to(inegi.id, "accidentes de transito municipales")
    kinds = {(s.kind, s.title) for s in found}
    assert ("item", existing.title) in kinds
    assert ("dataset", "Accidentes de tránsito terrestre en zonas urbanas") in kinds
    assert all(s.title != "Directorio de escuelas" for s in found)
    # Another institution's items are not suggested.
    assert items.similar_to(make_institution("salud").id, "accidentes de transito") == []


def test_support_is_once_per_person_and_can_be_withdrawn(ctx):
    inegi = make_institution("inegi")
    item = request(citizen(), inegi)
    ana = citizen()
    assert items.support(ana, item) == (True, 2)
    assert items.support(ana, item) == (False, 2)
    # The requester saying "me too" does not count twice either.
    assert items.support(item.created_by, item) == (False, 2)
    assert items.withdraw_support(ana, item) == (True, 1)
    assert items.withdraw_support(ana, item) == (False, 1)


def test_the_database_refuses_a_second_supporter_signal_of_one_person(ctx):
    inegi = make_institution("inegi")
    item = request(citizen(), inegi)
    db.session.add(
        DemandSignal(
            item_id=item.id, source=SignalSource.support, ref="other-ref", user_id=item.created_by_id
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_event_signals_do_not_make_supporters(ctx):
    inegi = make_institution("inegi")
    item = request(citizen(), inegi, title="Padrón de escuelas")
    replace_signals(inegi.id, SignalSource.event, "event:4", [WantedDataset(title="padrón de escuelas")])
    db.session.commit()
    assert items.signal_counts([item.id])[item.id] == {"request": 1, "support": 0, "event": 1, "survey": 0}
    assert items.supporters_of(item.id) == 1


def test_follow_and_unfollow(ctx):
    item = request(citizen(), make_institution("inegi"))
    pedro = citizen()
    assert items.follow(pedro, item) is True
    assert items.follow(pedro, item) is False
    assert {u.id for u in items.audience(item.id)} == {item.created_by_id, pedro.id}
    assert items.unfollow(pedro, item) is True
    assert not items.is_following(pedro, item)


def test_merge_unites_supporters_keeps_both_histories_and_tells_followers(ctx, mail_dir):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    both = citizen()
    keep = request(citizen(), inegi, title="Accidentes viales por municipio")
    items.support(both, keep)
    duplicate = request(citizen(), inegi, title="Siniestros de tránsito municipales")
    items.support(both, duplicate)
    watcher = citizen()
    items.follow(watcher, duplicate)
    replace_signals(
        inegi.id, SignalSource.event, "event:1", [WantedDataset(title="Siniestros de tránsito municipales")]
    )
    db.session.commit()

    merged = items.merge(liaison, duplicate, keep)
    db.session.expire_all()
    duplicate = db.session.get(DemandItem, duplicate.id)
    assert duplicate.status == DemandStatus.merged and duplicate.merged_into_id == keep.id
    assert merged.supporters_count == 3  # two requesters + the person on both, once
    counts = items.signal_counts([keep.id])[keep.id]
    assert counts["request"] == 2 and counts["support"] == 1 and counts["event"] == 1
    assert watcher.id in {
        f.user_id for f in db.session.execute(select(DemandFollow)).scalars() if f.item_id == keep.id
    }
    actions = {(h.item_id, h.action) for h in db.session.execute(select(DemandHistory)).scalars()}
    assert {(duplicate.id, "created"), (duplicate.id, "merged_into"), (keep.id, "merged_from")} <= actions
    # The watcher of the duplicate was told.
    from notifications.models import Notification

    told = {n.to_email for n in db.session.execute(select(Notification)).scalars()}
    assert watcher.email in told
    # The event's origin now lands on the item that carries the demand.
    assert replace_signals(
        inegi.id, SignalSource.event, "event:1", [WantedDataset(title="Siniestros de tránsito municipales")]
    ) == [keep.id]


def test_merge_refuses_other_institutions_and_itself(ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    a = request(citizen(), inegi, title="Uno")
    other = request(citizen(), make_institution("salud"), title="Dos")
    for target in (a, other):
        with pytest.raises(DomainError) as refused:
            items.merge(liaison, a, target)
        assert refused.value.status == 422
        db.session.rollback()
