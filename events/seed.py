"""Demo events for `flask seed-demo`: past and upcoming events of each kind, registrations,
a waitlist, check-ins, outcomes with commitments, and a published success story.

Idempotent: an event is recognised by its institution and title and left alone. Demo
registrations are written directly (no confirmation emails: the seed runs before the
broker is up), and confirmed ones get their reminder rows.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from accounts import services as accounts
from core.choices import InstitutionRole
from core.extensions import db
from core.models import Institution, Membership, User
from core.timeutil import utcnow
from events import reminders, services
from events.models import ConsentStatus, Event, EventStatus, Registration, RegistrationStatus

ZONE = "America/Mexico_City"
CITIZEN = ("ciudadana@promueve.example", "Valeria Méndez Torres", "Ciudadana-Promueve-2026")
PARTICIPANT_PASSWORD = "Participa-Promueve-2026"
PARTICIPANTS = [
    ("Rodrigo Salinas", "academia"),
    ("Paola Jiménez", "civil_society"),
    ("Héctor Aguilar", "private_sector"),
    ("Daniela Ríos", "journalism"),
    ("Fernanda Cortés", "academia"),
    ("Luis Ángel Pineda", "citizen"),
    ("Ximena Castro", "civil_society"),
    ("Emilio Vargas", "private_sector"),
    ("Renata Domínguez", "citizen"),
    ("Arturo Mejía", "government"),
    ("Sofía Ibarra", "academia"),
    ("Julián Ortega", "journalism"),
    ("Camila Reyes", "citizen"),
    ("Mauricio León", "civil_society"),
    ("Regina Fuentes", "private_sector"),
    ("Tomás Espinoza", "citizen"),
    ("Alejandra Nava", "academia"),
    ("Iván Herrera", "citizen"),
    ("Natalia Ruiz", "civil_society"),
    ("Gerardo Montes", "citizen"),
    ("Andrea Solís", "journalism"),
    ("Pablo Cervantes", "private_sector"),
    ("Mónica Zavala", "citizen"),
    ("Óscar Lozano", "academia"),
]


def _at(days: int, hour: int, minute: int = 0) -> datetime:
    """`days` from today at a local wall-clock time, as UTC."""
    day = (utcnow().astimezone(ZoneInfo(ZONE)) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(ZONE)).astimezone(ZoneInfo("UTC"))


def _people() -> list[User]:
    users = []
    for number, (name, sector) in enumerate(PARTICIPANTS, start=1):
        email = f"participante{number:02d}@promueve.example"
        user = accounts.find_user(email)
        if user is None:
            user = accounts.create_user(email, PARTICIPANT_PASSWORD, name=name, verified=True, sector=sector)
        users.append(user)
    citizen = accounts.find_user(CITIZEN[0])
    if citizen is None:
        citizen = accounts.create_user(
            CITIZEN[0], CITIZEN[2], name=CITIZEN[1], verified=True, sector="citizen"
        )
    db.session.commit()
    return [citizen, *users]


def _register(event: Event, people: list[User], *, check_in: int = 0) -> None:
    """Seat people in order (confirmed, then waitlisted), as the service would."""
    counts = services.seat_counts(event.id)
    for n, person in enumerate(people):
        sector = str(person.sector) if person.sector else None
        if services.has_seat(event, sector, counts):
            status = RegistrationStatus.confirmed
            counts.confirmed += 1
            counts.by_sector[sector or ""] = counts.by_sector.get(sector or "", 0) + 1
        else:
            status = RegistrationStatus.waitlisted
        created = min(event.starts_at, utcnow()) - timedelta(days=10, minutes=len(people) - n)
        registration = Registration(
            event_id=event.id,
            user_id=person.id,
            status=status,
            code=services.new_code(),
            sector=sector,
            answers={},
            created_at=created,
            confirmed_at=created if status == RegistrationStatus.confirmed else None,
            checked_in_at=event.starts_at + timedelta(minutes=5 + n) if n < check_in else None,
        )
        db.session.add(registration)
        db.session.flush()
        registration.user, registration.event = person, event
        reminders.sync_registration(registration)
    db.session.commit()


def _liaison(institution: Institution) -> User | None:
    """The institution's first liaison (who acts for it in the demo)."""
    return db.session.execute(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.institution_id == institution.id, Membership.role == InstitutionRole.liaison)
        .order_by(User.id)
        .limit(1)
    ).scalar_one_or_none()


def _accept_cohosts(event: Event) -> None:
    """Each named co-host accepts through one of its liaisons, as it would in the app."""
    for cohost in list(event.cohosts):
        liaison = _liaison(cohost.institution)
        if cohost.status == ConsentStatus.pending and liaison is not None:
            services.answer_cohost(liaison, cohost, accept=True)


def _event(institution: Institution, data: dict[str, Any]) -> tuple[Event, User | None, bool]:
    """The demo event (created and published when missing), its liaison, and whether it is new."""
    liaison = _liaison(institution)
    existing = db.session.execute(
        select(Event).where(Event.institution_id == institution.id, Event.title == data["title"])
    ).scalar_one_or_none()
    if existing is not None:
        return existing, liaison, False
    event = services.create_event(liaison, institution, data)
    if event.ends_at > utcnow():
        services.publish_event(liaison, event)
    else:
        # A past event: published back then (the service refuses to publish the past).
        event.status = EventStatus.published
        event.published_at = event.starts_at - timedelta(days=30)
        event.sequence = 1
        db.session.commit()
        reminders.schedule_outcome_reminders(event)
        db.session.commit()
    return event, liaison, True


def _walk_in(event: Event, name: str, sector: str) -> None:
    db.session.add(
        Registration(
            event_id=event.id,
            status=RegistrationStatus.confirmed,
            code=services.new_code(),
            sector=sector,
            answers={},
            walk_in=True,
            walk_in_name=name,
            created_at=event.starts_at + timedelta(minutes=20),
            confirmed_at=event.starts_at + timedelta(minutes=20),
            checked_in_at=event.starts_at + timedelta(minutes=20),
        )
    )
    db.session.commit()


def seed_events() -> list[tuple[str, str, str]]:
    """Create the demo events that are missing; returns demo accounts to print."""
    institutions = {i.slug: i for i in db.session.execute(select(Institution)).scalars() if i.slug in _SLUGS}
    if set(institutions) != _SLUGS:
        return []
    people = _people()
    citizen, participants = people[0], people[1:]

    inegi, salud, sep = institutions["inegi"], institutions["salud"], institutions["sep"]
    conagua, jalisco, cdmx = institutions["conagua"], institutions["jalisco"], institutions["cdmx"]

    censo, _censo_liaison, censo_new = _event(
        inegi,
        {
            "kind": "datathon",
            "title": "Datatón del Censo de Población y Vivienda 2020",
            "summary": "Un día para construir visualizaciones y herramientas con los microdatos "
            "del Censo 2020.",
            "description": "Trabaja en equipos de 3 a 5 personas con los **microdatos del Censo 2020** y el "
            "Marco Geoestadístico.\n\n- Trae tu computadora.\n- Habrá mentorías del equipo de INEGI.\n"
            "- Las mejores propuestas se presentarán a la Dirección General de Estadísticas "
            "Sociodemográficas.",
            "topics": ["población", "vivienda", "microdatos"],
            "format": "in_person",
            "venue": "Auditorio del INEGI",
            "address": "Av. Héroe de Nacozari Sur 2301, Jardines del Parque, Aguascalientes",
            "state": "Aguascalientes",
            "latitude": 21.8566,
            "longitude": -102.2875,
            "starts_at": _at(12, 9),
            "ends_at": _at(12, 18),
            "timezone": ZONE,
            "capacity": 40,
            "agenda": [
                {"time": "09:00", "title": "Registro y café"},
                {"time": "09:30", "title": "Presentación de los microdatos", "speaker": "Equipo de INEGI"},
                {"time": "10:30", "title": "Trabajo en equipos"},
                {"time": "17:00", "title": "Presentaciones y premiación"},
            ],
            "datasets": [
                {
                    "title": "Censo de Población y Vivienda 2020 — microdatos",
                    "url": "https://www.inegi.org.mx/programas/ccpv/2020/#microdatos",
                },
                {"title": "Marco Geoestadístico", "url": "https://www.inegi.org.mx/temas/mg/"},
            ],
            "questions": [
                {
                    "kind": "single_choice",
                    "prompt": "¿Cuál es tu experiencia con datos?",
                    "choices": ["Principiante", "Intermedia", "Avanzada"],
                    "required": True,
                },
            ],
        },
    )
    if censo_new:
        _register(censo, [citizen, *participants[:17]])

    salud_table, _salud_table_liaison, salud_table_new = _event(
        salud,
        {
            "kind": "dialogue_table",
            "title": "Mesa de diálogo: datos abiertos de egresos hospitalarios",
            "summary": "Especialistas y sociedad civil revisan qué datos hospitalarios publicar "
            "y con qué detalle.",
            "description": "La Secretaría de Salud quiere escuchar a quienes usan los datos de **egresos "
            "hospitalarios**: qué variables faltan, qué desagregación geográfica sirve y cómo proteger "
            "la confidencialidad.",
            "topics": ["salud", "hospitales", "confidencialidad"],
            "format": "hybrid",
            "venue": "Secretaría de Salud, sala de juntas del piso 7",
            "address": "Lieja 7, Juárez, Cuauhtémoc, Ciudad de México",
            "state": "Ciudad de México",
            "online_url": "https://meet.jit.si/promueve-egresos-hospitalarios",
            "starts_at": _at(9, 10),
            "ends_at": _at(9, 13),
            "timezone": ZONE,
            "capacity": 10,
            "waitlist": True,
            "sector_seats": {"academia": 3, "civil_society": 3, "private_sector": 2, "journalism": 2},
            "agenda": [
                {"time": "10:00", "title": "Bienvenida", "speaker": "Jorge Ramírez Cruz"},
                {"time": "10:20", "title": "Ronda de necesidades por sector"},
                {"time": "12:15", "title": "Acuerdos"},
            ],
            "datasets": [
                {
                    "title": "Egresos hospitalarios (SAEH)",
                    "url": "https://datos.gob.mx/busca/dataset/egresos-hospitalarios",
                }
            ],
        },
    )
    if salud_table_new:
        _register(salud_table, participants)  # more than the seats: some wait, in arrival order

    _event(
        sep,
        {
            "kind": "data_for_development",
            "title": "Colaboración SEP–UNAM: abandono escolar en educación media superior",
            "summary": "Un semestre de trabajo conjunto para modelar el abandono escolar con datos abiertos.",
            "description": "Estudiantes de posgrado de la UNAM y el equipo de estadística de la SEP "
            "construyen indicadores de riesgo de abandono a partir del formato 911.",
            "topics": ["educación", "abandono escolar"],
            "format": "hybrid",
            "venue": "Instituto de Investigaciones Sociales, UNAM",
            "address": "Circuito Mario de la Cueva s/n, Ciudad Universitaria, Coyoacán",
            "state": "Ciudad de México",
            "online_url": "https://meet.jit.si/promueve-sep-unam",
            "starts_at": _at(20, 16),
            "ends_at": _at(20, 19),
            "timezone": ZONE,
            "capacity": 25,
            "academic_partner": "Universidad Nacional Autónoma de México (UNAM)",
            "datasets": [
                {
                    "title": "Estadística educativa formato 911",
                    "url": "https://datos.gob.mx/busca/dataset/estadistica-educativa-formato-911",
                }
            ],
        },
    )

    movilidad, _movilidad_liaison, movilidad_new = _event(
        cdmx,
        {
            "kind": "datathon",
            "title": "Datatón de movilidad en la Ciudad de México",
            "summary": "Ideas con datos de Ecobici, Metro y accidentes viales, en línea.",
            "description": "Un fin de semana en línea para proponer mejoras a la movilidad "
            "con datos abiertos.",
            "topics": ["movilidad", "transporte", "seguridad vial"],
            "format": "online",
            "online_url": "https://meet.jit.si/promueve-movilidad-cdmx",
            "state": "Ciudad de México",
            "starts_at": _at(26, 10),
            "ends_at": _at(27, 18),
            "timezone": ZONE,
            "capacity": None,
            "cohosts": ["inegi"],
            "datasets": [
                {"title": "Viajes en Ecobici", "url": "https://datos.cdmx.gob.mx/dataset/ecobici"},
                {
                    "title": "Incidentes viales",
                    "url": "https://datos.cdmx.gob.mx/dataset/incidentes-viales-c5",
                },
            ],
        },
    )
    if movilidad_new:
        _accept_cohosts(movilidad)
        _register(movilidad, [citizen, *participants[5:12]])

    # --- past events ---------------------------------------------------------------------
    agua, agua_liaison, agua_new = _event(
        conagua,
        {
            "kind": "datathon",
            "title": "Datatón del agua: monitoreo de sequía",
            "summary": "Herramientas para anticipar la sequía con datos del Monitor de Sequía y de presas.",
            "description": "Equipos de todo el país trabajaron con los datos de almacenamiento de presas.",
            "topics": ["agua", "sequía", "presas"],
            "format": "in_person",
            "venue": "Centro de Cultura Digital",
            "address": "Paseo de la Reforma s/n, Juárez, Cuauhtémoc",
            "state": "Ciudad de México",
            "starts_at": _at(-45, 9),
            "ends_at": _at(-45, 18),
            "timezone": ZONE,
            "capacity": 30,
            "datasets": [
                {
                    "title": "Monitor de Sequía de México",
                    "url": "https://smn.conagua.gob.mx/es/climatologia/monitor-de-sequia",
                }
            ],
        },
    )
    if agua_new:
        _register(agua, [citizen, *participants[:19]], check_in=16)
        liaison = agua_liaison
        _walk_in(agua, "Invitada del Servicio Meteorológico Nacional", "government")
        _walk_in(agua, "Estudiante de la UAM", "academia")
        services.record_outcome(
            liaison,
            agua,
            minutes="Participaron 16 personas registradas y 2 invitadas. Se presentaron 5 prototipos; "
            "el ganador estima el riesgo de desabasto por municipio con el Monitor de Sequía.",
            published_datasets=[
                {
                    "title": "Almacenamiento diario de presas (serie histórica)",
                    "url": "https://datos.gob.mx/busca/dataset/almacenamiento-de-presas",
                }
            ],
            requested_datasets=[
                {
                    "title": "Extracciones de agua por acuífero",
                    "url": "https://datos.gob.mx/busca/dataset/extracciones-por-acuifero",
                }
            ],
            attendance_count=18,
        )
        services.add_commitment(
            liaison,
            agua,
            {
                "text": "Publicar la serie histórica diaria de almacenamiento de presas.",
                "responsible_institution": "conagua",
                "due_on": (utcnow() - timedelta(days=10)).date(),
                "status": "done",
            },
        )
        services.add_commitment(
            liaison,
            agua,
            {
                "text": "Evaluar la publicación de extracciones por acuífero.",
                "responsible_institution": "conagua",
                "due_on": (utcnow() + timedelta(days=60)).date(),
                "status": "in_progress",
            },
        )
        # Named responsible by CONAGUA, INEGI has yet to confirm: shown as pending.
        services.add_commitment(
            liaison,
            agua,
            {
                "text": "Cruzar el Monitor de Sequía con el Censo Agropecuario por municipio.",
                "responsible_institution": "inegi",
                "due_on": (utcnow() + timedelta(days=90)).date(),
                "status": "pending",
            },
        )
        services.add_commitment(
            liaison,
            agua,
            {
                "text": "Acompañar al equipo ganador para llevar el prototipo a un piloto municipal.",
                "responsible_name": "Equipo ganador y Gobierno de Jalisco",
                "status": "pending",
            },
        )
        services.save_story(
            liaison,
            agua,
            title="Del datatón al piloto: anticipar la sequía municipio por municipio",
            body="Cuarenta y cinco días después del **Datatón del agua**, la serie histórica diaria de "
            "presas ya es un conjunto de datos abierto y el prototipo ganador se prueba en tres "
            "municipios de Jalisco.\n\nLa CONAGUA publicó los datos que el equipo necesitaba y se "
            "comprometió a evaluar la apertura de las extracciones por acuífero.",
            datasets=[
                {
                    "title": "Almacenamiento diario de presas",
                    "url": "https://datos.gob.mx/busca/dataset/almacenamiento-de-presas",
                }
            ],
            publish=True,
        )

    seguridad, seguridad_liaison, seguridad_new = _event(
        jalisco,
        {
            "kind": "dialogue_table",
            "title": "Mesa de diálogo: datos de seguridad y presupuesto en Jalisco",
            "summary": "Periodistas y organizaciones revisaron la calidad de los datos de "
            "incidencia delictiva.",
            "format": "in_person",
            "venue": "Casa Jalisco",
            "address": "Av. Manuel Acuña 2400, Guadalajara",
            "state": "Jalisco",
            "starts_at": _at(-20, 11),
            "ends_at": _at(-20, 14),
            "timezone": ZONE,
            "capacity": 12,
            "sector_seats": {"journalism": 4, "civil_society": 4},
        },
    )
    if seguridad_new:
        _register(seguridad, participants[1:14], check_in=9)
        liaison = seguridad_liaison
        services.record_outcome(liaison, seguridad, minutes="Se acordó publicar la incidencia por colonia.")
        services.add_commitment(
            liaison,
            seguridad,
            {
                "text": "Publicar la incidencia delictiva mensual por colonia.",
                "responsible_institution": "jalisco",
                "due_on": (utcnow() + timedelta(days=30)).date(),
            },
        )

    udg, _udg_liaison, udg_new = _event(
        inegi,
        {
            "kind": "data_for_development",
            "title": "INEGI y Universidad de Guadalajara: pobreza urbana con imágenes satelitales",
            "summary": "Cierre del proyecto conjunto para estimar pobreza urbana por manzana.",
            "format": "online",
            "online_url": "https://meet.jit.si/promueve-inegi-udg",
            "starts_at": _at(-10, 17),
            "ends_at": _at(-10, 19),
            "timezone": ZONE,
            "academic_partner": "Universidad de Guadalajara",
        },
    )
    if udg_new:
        _register(udg, participants[10:16], check_in=5)
    return [("ciudadana", CITIZEN[0], CITIZEN[2])]


_SLUGS = {"inegi", "salud", "sep", "conagua", "jalisco", "cdmx"}
