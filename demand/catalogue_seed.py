"""Demo catalogues: each demo institution's catalogue settings and datasets, imported from the
fixture answers in `demand/fixtures/` through the same import code as a live refresh (offline)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from core.extensions import db
from core.models import Institution
from demand import catalogue
from demand.models import Dataset

FIXTURES = Path(__file__).parent / "fixtures"

# slug → (kind, CKAN organisation, fixture file): a CKAN `package_search` answer or a DCAT data.json.
DEMO_CATALOGUES = {
    "inegi": ("dcat", None, "inegi.json"),
    "salud": ("ckan", "salud", "salud.json"),
    "sep": ("ckan", "sep", "sep.json"),
    "conagua": ("ckan", "conagua", "conagua.json"),
    "jalisco": ("dcat", None, "jalisco.json"),
    "cdmx": ("ckan", "agencia-digital-de-innovacion-publica", "cdmx.json"),
}


def seed_catalogues() -> int:
    """Give the demo institutions their catalogue settings and, the first time, their datasets;
    how many institutions were imported (running it again changes nothing)."""
    imported = 0
    for slug, (kind, organization, fixture) in DEMO_CATALOGUES.items():
        institution = db.session.execute(
            select(Institution).where(Institution.slug == slug)
        ).scalar_one_or_none()
        if institution is None or not institution.catalogue_url:
            continue
        if institution.catalogue_kind is None:
            institution.catalogue_kind = kind
            institution.catalogue_organization = organization
            db.session.commit()
        has_datasets = db.session.execute(
            select(Dataset.id).where(Dataset.institution_id == institution.id).limit(1)
        ).first()
        if has_datasets or institution.catalogue_kind != kind:
            continue
        document = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
        catalogue.import_document(institution, document, kind=kind)
        imported += 1
    return imported
