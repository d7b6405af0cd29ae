"""`flask seed-demo`: real Mexican institutions with liaison accounts (idempotent)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from accounts import services
from challenges.seed import seed_challenges
from core.extensions import db
from core.models import Institution, User
from demand.catalogue_seed import seed_catalogues
from demand.seed import seed_demand
from events.seed import seed_events
from notifications.seed import seed_notifications
from surveys.seed import seed_surveys

ADMIN = ("admin@promueve.example", "Administración Promueve", "Admin-Promueve-2026")

INSTITUTIONS = [
    {
        "slug": "inegi",
        "name": "Instituto Nacional de Estadística y Geografía",
        "acronym": "INEGI",
        "government_order": "autonomous",
        "website": "https://www.inegi.org.mx",
        "catalogue_url": "https://www.inegi.org.mx/datosabiertos/",
        "catalogue_kind": "dcat",
        "description": "Organismo autónomo responsable del Sistema Nacional de Información "
        "Estadística y Geográfica: censos, encuestas y cartografía del país.",
        "liaison": ("enlace.inegi@promueve.example", "Mariana López Ortega", "Enlace-INEGI-2026"),
    },
    {
        "slug": "salud",
        "name": "Secretaría de Salud",
        "acronym": "SSA",
        "government_order": "federal",
        "website": "https://www.gob.mx/salud",
        "catalogue_url": "https://datos.gob.mx/busca/organization/salud",
        "catalogue_kind": "ckan",
        "catalogue_organization": "salud",
        "description": "Datos abiertos de egresos hospitalarios, recursos en salud, "
        "morbilidad y vigilancia epidemiológica.",
        "liaison": ("enlace.salud@promueve.example", "Jorge Ramírez Cruz", "Enlace-Salud-2026"),
    },
    {
        "slug": "sep",
        "name": "Secretaría de Educación Pública",
        "acronym": "SEP",
        "government_order": "federal",
        "website": "https://www.gob.mx/sep",
        "catalogue_url": "https://datos.gob.mx/busca/organization/sep",
        "catalogue_kind": "ckan",
        "catalogue_organization": "sep",
        "description": "Estadística educativa: escuelas, matrícula, docentes y resultados "
        "de aprendizaje por ciclo escolar.",
        "liaison": ("enlace.sep@promueve.example", "Lucía Hernández Soto", "Enlace-SEP-2026"),
    },
    {
        "slug": "conagua",
        "name": "Comisión Nacional del Agua",
        "acronym": "CONAGUA",
        "government_order": "federal",
        "website": "https://www.gob.mx/conagua",
        "catalogue_url": "https://datos.gob.mx/busca/organization/conagua",
        "catalogue_kind": "ckan",
        "catalogue_organization": "conagua",
        "description": "Disponibilidad de agua, presas, estaciones climatológicas y monitoreo de sequía.",
        "liaison": ("enlace.conagua@promueve.example", "Andrés Villalobos Peña", "Enlace-CONAGUA-2026"),
    },
    {
        "slug": "jalisco",
        "name": "Gobierno del Estado de Jalisco",
        "acronym": "JAL",
        "government_order": "state",
        "website": "https://www.jalisco.gob.mx",
        "catalogue_url": "https://datos.jalisco.gob.mx",
        "catalogue_kind": "dcat",
        "description": "Datos abiertos del gobierno estatal: movilidad, seguridad, "
        "presupuesto y obra pública en Jalisco.",
        "liaison": ("enlace.jalisco@promueve.example", "Sofía Navarro Gutiérrez", "Enlace-Jalisco-2026"),
    },
    {
        "slug": "cdmx",
        "name": "Agencia Digital de Innovación Pública de la Ciudad de México",
        "acronym": "ADIP",
        "government_order": "state",
        "website": "https://adip.cdmx.gob.mx",
        "catalogue_url": "https://datos.cdmx.gob.mx",
        "catalogue_kind": "ckan",
        "catalogue_organization": "agencia-digital-de-innovacion-publica",
        "description": "Portal de datos abiertos de la Ciudad de México: transporte, "
        "servicios urbanos, seguridad y trámites.",
        "liaison": ("enlace.cdmx@promueve.example", "Diego Castañeda Ruiz", "Enlace-CDMX-2026"),
    },
]


def seed_demo() -> list[tuple[str, str, str]]:
    """Create what is missing; return (who, email, password) for each demo account."""
    accounts = []
    admin = services.find_user(ADMIN[0])
    if admin is None:
        admin = services.create_user(
            ADMIN[0], ADMIN[2], name=ADMIN[1], admin=True, verified=True, sector="government"
        )
        db.session.commit()
    accounts.append(("admin", ADMIN[0], ADMIN[2]))
    for spec in INSTITUTIONS:
        fields = {k: v for k, v in spec.items() if k not in {"slug", "liaison"}}
        institution = db.session.execute(
            select(Institution).where(Institution.slug == spec["slug"])
        ).scalar_one_or_none()
        if institution is None:
            institution = services.create_institution(
                admin, slug=spec["slug"], timezone="America/Mexico_City", **fields
            )
        email, name, password = spec["liaison"]
        liaison = services.find_user(email)
        if liaison is None:
            liaison = services.create_user(email, password, name=name, verified=True, sector="government")
            db.session.commit()
        if liaison.role_in(institution.id) is None:
            services.add_member(admin, institution, liaison, "liaison")
        accounts.append((spec["acronym"], email, password))
    seed_catalogues()
    accounts.extend(seed_events())
    accounts.extend(seed_challenges())
    seed_demand()
    accounts.extend(seed_surveys())
    seed_notifications([email for _who, email, _password in accounts])
    return accounts


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no accounts yet.")
@with_appcontext
def seed_demo_command(if_empty: bool):
    """Load demo institutions and accounts (running it twice changes nothing)."""
    if if_empty and db.session.execute(select(User.id).limit(1)).first():
        click.echo("Accounts already exist; demo data not loaded (run `flask seed-demo` to add it).")
        return
    accounts = seed_demo()
    click.echo("Demo accounts (sign in at /login):")
    for who, email, password in accounts:
        click.echo(f"  {who:<8} {email:<36} {password}")
