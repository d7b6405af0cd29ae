"""Demo catalogues: every demo institution mirrors a catalogue from fixtures, offline."""

from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from core.models import Institution
from demand import catalogue
from demand.catalogue_seed import DEMO_CATALOGUES, seed_catalogues
from demand.models import Dataset
from demo import INSTITUTIONS, seed_demo


def test_every_demo_institution_gets_a_catalogue_from_fixtures(app, demo, ctx, monkeypatch):
    # `demo` ran seed_demo() on empty tables with catalogue.fetch_json refused and recorded.
    assert demo.network_calls == []

    def offline(*args, **kwargs):
        raise AssertionError("the demo must not touch the network")

    monkeypatch.setattr(catalogue, "fetch_json", offline)
    assert {spec["slug"] for spec in INSTITUTIONS} == set(DEMO_CATALOGUES)
    kinds = set()
    for institution in db.session.execute(select(Institution)).scalars():
        info = catalogue.status_of(institution)
        assert info["configured"] and info["state"] == "ok" and info["datasets"] >= 5, institution.slug
        kinds.add(institution.catalogue_kind)
    assert kinds == {"ckan", "dcat"}
    egresos = db.session.execute(
        select(Dataset).where(Dataset.title == "Egresos hospitalarios (SAEH)")
    ).scalar_one()
    # The URL the demo event names for it is the catalogue's dataset page.
    assert egresos.url == "https://datos.gob.mx/busca/dataset/egresos-hospitalarios"
    censo = db.session.execute(
        select(Dataset).where(Dataset.source_id == "inegi-ccpv-2020-microdatos")
    ).scalar_one()
    assert censo.url == "https://www.inegi.org.mx/programas/ccpv/2020/#microdatos"
    count = db.session.execute(select(func.count()).select_from(Dataset)).scalar_one()
    assert seed_catalogues() == 0
    seed_demo()
    assert db.session.execute(select(func.count()).select_from(Dataset)).scalar_one() == count
