"""Fixed vocabularies shared by every domain, with their translated labels."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class Sector(enum.StrEnum):
    """The sector a person speaks for; dialogue tables seat people by sector."""

    academia = "academia"
    civil_society = "civil_society"
    private_sector = "private_sector"
    government = "government"
    journalism = "journalism"
    citizen = "citizen"


SECTOR_LABELS = {
    Sector.academia: _l("Academia"),
    Sector.civil_society: _l("Sociedad civil"),
    Sector.private_sector: _l("Sector privado"),
    Sector.government: _l("Gobierno"),
    Sector.journalism: _l("Periodismo"),
    Sector.citizen: _l("Ciudadanía"),
}


class GovernmentOrder(enum.StrEnum):
    """Order of government of an institution."""

    federal = "federal"
    state = "state"
    municipal = "municipal"
    autonomous = "autonomous"


GOVERNMENT_ORDER_LABELS = {
    GovernmentOrder.federal: _l("Federal"),
    GovernmentOrder.state: _l("Estatal"),
    GovernmentOrder.municipal: _l("Municipal"),
    GovernmentOrder.autonomous: _l("Organismo autónomo"),
}


class InstitutionRole(enum.StrEnum):
    """A person's role inside an institution."""

    liaison = "liaison"
    staff = "staff"


ROLE_LABELS = {
    InstitutionRole.liaison: _l("Enlace de Datos Abiertos"),
    InstitutionRole.staff: _l("Personal de la institución"),
}

# The kinds of catalogue an institution's datasets are mirrored from (`Institution.catalogue_kind`).
CATALOGUE_KIND_LABELS = {
    "ckan": _l("CKAN (API de acciones)"),
    "dcat": _l("DCAT (data.json)"),
}

LOCALES = {"es_MX": "Español (México)", "en": "English"}

# The 32 federal entities, by their official short names (proper nouns: not translated).
MEXICAN_STATES = [
    "Aguascalientes",
    "Baja California",
    "Baja California Sur",
    "Campeche",
    "Chiapas",
    "Chihuahua",
    "Ciudad de México",
    "Coahuila",
    "Colima",
    "Durango",
    "Estado de México",
    "Guanajuato",
    "Guerrero",
    "Hidalgo",
    "Jalisco",
    "Michoacán",
    "Morelos",
    "Nayarit",
    "Nuevo León",
    "Oaxaca",
    "Puebla",
    "Querétaro",
    "Quintana Roo",
    "San Luis Potosí",
    "Sinaloa",
    "Sonora",
    "Tabasco",
    "Tamaulipas",
    "Tlaxcala",
    "Veracruz",
    "Yucatán",
    "Zacatecas",
]
