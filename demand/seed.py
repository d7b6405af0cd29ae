"""Demo demand for `flask seed-demo`: a small catalogue per institution, requests with
support, questions, comments, and official answers in every state (one overdue).

Idempotent: an item is recognised by its institution and title and left alone. Runs
after the events seed, whose participants ask and support here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from accounts import services as accounts
from core.extensions import db
from core.models import Institution, User
from core.timeutil import utcnow
from demand import answers, comments, items, reminders
from demand.models import Comment, Dataset, DemandItem
from demand.services import first_answer_due

# Catalogue fixtures: replaced by the catalogue import when an institution's catalogue is configured.
DEMO_DATASETS: dict[str, list[tuple[str, str, str]]] = {
    "inegi": [
        (
            "censo-2020",
            "Censo de Población y Vivienda 2020",
            "Resultados por entidad, municipio y localidad.",
        ),
        (
            "enigh-2022",
            "Encuesta Nacional de Ingresos y Gastos de los Hogares 2022",
            "Microdatos y tabulados.",
        ),
        (
            "denue",
            "Directorio Estadístico Nacional de Unidades Económicas",
            "Establecimientos activos del país.",
        ),
    ],
    "salud": [
        ("egresos-2023", "Egresos hospitalarios 2023", "Egresos por unidad médica, diagnóstico y entidad."),
        ("recursos-salud", "Recursos en salud", "Camas, consultorios y personal por unidad."),
    ],
    "sep": [
        ("escuelas-911", "Estadística 911 de escuelas", "Matrícula, docentes y grupos por escuela y ciclo."),
        ("catalogo-ct", "Catálogo de centros de trabajo", "Escuelas con ubicación y turno."),
    ],
    "conagua": [
        ("presas", "Almacenamiento de presas", "Nivel diario de las principales presas."),
        ("sequia", "Monitor de sequía", "Municipios con sequía, quincenal."),
    ],
    "jalisco": [
        ("incidentes-viales", "Incidentes viales en Jalisco", "Incidentes registrados por municipio."),
        ("presupuesto", "Presupuesto de egresos de Jalisco", "Presupuesto aprobado por dependencia."),
    ],
    "cdmx": [
        ("afluencia-metro", "Afluencia diaria del Metro", "Entradas por estación y día."),
        ("ecobici", "Viajes de Ecobici", "Viajes por estación de origen y destino."),
    ],
}

REQUESTS: dict[str, list[dict[str, Any]]] = {
    "inegi": [
        {
            "title": "Censo 2020 por manzana con rezago social",
            "dataset": "censo-2020",
            "use": "public_policy",
            "supporters": 9,
            "answer": ("scheduled", {"days": 45, "explanation": "Lo publicaremos con la cartografía 2025."}),
        },
        {
            "title": "¿Qué significa la variable P_15YMAS del censo?",
            "kind": "question",
            "dataset": "censo-2020",
            "use": "research",
            "supporters": 2,
            "answer": (
                "answered",
                {"explanation": "Es la población de 15 años y más de cada unidad geográfica."},
            ),
        },
        {"title": "Empleo informal por municipio, trimestral", "use": "journalism", "supporters": 6},
    ],
    "salud": [
        {
            "title": "Egresos hospitalarios con edad y sexo por diagnóstico",
            "dataset": "egresos-2023",
            "use": "research",
            "supporters": 7,
            "answer": ("published", {"url": "https://datos.gob.mx/busca/dataset/egresos-hospitalarios"}),
        },
        {
            "title": "Expedientes clínicos con nombre de pacientes",
            "use": "other",
            "supporters": 1,
            "answer": (
                "not_possible",
                {
                    "reason": "personal_data",
                    "explanation": "Contienen datos personales sensibles de las y los pacientes.",
                    "legal_basis": "Artículos 113 y 116 de la LGTAIP.",
                },
            ),
        },
        {
            "title": "Tiempos de espera en urgencias por hospital",
            "use": "app_or_service",
            "supporters": 5,
            "overdue": True,
        },
    ],
    "sep": [
        {
            "title": "Resultados de aprendizaje por escuela",
            "use": "teaching",
            "supporters": 8,
            "answer": ("under_review", {}),
        },
        {
            "title": "Escuelas con internet y electricidad",
            "dataset": "catalogo-ct",
            "use": "public_policy",
            "supporters": 4,
        },
    ],
    "conagua": [
        {"title": "Calidad del agua en acuíferos por pozo", "use": "research", "supporters": 6},
        {
            "title": "Calidad del agua subterránea por pozo",
            "use": "research",
            "supporters": 2,
            "merge_into": 0,
        },
    ],
    "jalisco": [
        {
            "title": "Incidentes viales con coordenadas y hora",
            "dataset": "incidentes-viales",
            "use": "app_or_service",
            "supporters": 5,
            "answer": ("scheduled", {"days": 20}),
        },
    ],
    "cdmx": [
        {
            "title": "Afluencia del Metro por hora",
            "dataset": "afluencia-metro",
            "use": "app_or_service",
            "supporters": 10,
        },
    ],
}

COMMENTS = [
    "¿Podrían incluir un diccionario de datos con la definición de cada columna?",
    "Lo usaríamos para un reportaje sobre **desigualdad territorial**. Gracias.",
    "Sería muy útil en formato CSV, además del PDF.",
]


# The same datasets under the ids the demo catalogues (demand/fixtures, imported first) give them.
CATALOGUE_IDS = {
    "censo-2020": "inegi-ccpv-2020-microdatos",
    "denue": "inegi-denue",
    "egresos-2023": "egresos-hospitalarios",
    "recursos-salud": "recursos-en-salud",
    "escuelas-911": "estadistica-educativa-formato-911",
    "catalogo-ct": "catalogo-de-centros-de-trabajo",
    "presas": "almacenamiento-de-presas",
    "sequia": "monitor-de-sequia",
    "presupuesto": "jal-presupuesto-egresos",
    "afluencia-metro": "afluencia-diaria-del-metro-cdmx",
    "ecobici": "ecobici",
}


def ensure_demo_datasets(institution: Institution) -> list[Dataset]:
    """A few catalogue datasets for a demo institution (only if its catalogue has none)."""
    existing = list(
        db.session.execute(select(Dataset).where(Dataset.institution_id == institution.id)).scalars()
    )
    if existing:
        return existing
    rows = []
    base = (institution.catalogue_url or "https://datos.gob.mx").rstrip("/")
    for source_id, title, description in DEMO_DATASETS.get(institution.slug, []):
        row = Dataset(
            institution_id=institution.id,
            source_id=source_id,
            title=title,
            description=description,
            url=f"{base}/dataset/{source_id}",
            formats="CSV, JSON",
            modified_at=utcnow() - timedelta(days=40),
        )
        db.session.add(row)
        rows.append(row)
    db.session.commit()
    return rows


def _people() -> list[User]:
    found = []
    for number in range(1, 25):
        user = accounts.find_user(f"participante{number:02d}@promueve.example")
        if user is not None and user.is_verified:
            found.append(user)
    citizen = accounts.find_user("ciudadana@promueve.example")
    return ([citizen] if citizen else []) + found


def _liaison(institution: Institution) -> User | None:
    people = reminders.institution_people(institution.id)
    return people[0] if people else None


def seed_demand() -> int:
    """Create the missing demo demand; returns how many items were added."""
    people = _people()
    if not people:
        return 0
    added = 0
    for slug, specs in REQUESTS.items():
        institution = db.session.execute(
            select(Institution).where(Institution.slug == slug)
        ).scalar_one_or_none()
        if institution is None:
            continue
        datasets = {d.source_id: d for d in ensure_demo_datasets(institution)}
        liaison = _liaison(institution)
        created: list[DemandItem] = []
        for number, spec in enumerate(specs):
            existing = db.session.execute(
                select(DemandItem).where(
                    DemandItem.institution_id == institution.id, DemandItem.title == spec["title"]
                )
            ).scalar_one_or_none()
            if existing is not None:
                created.append(existing)
                continue
            key = spec.get("dataset", "")
            dataset = datasets.get(key) or datasets.get(CATALOGUE_IDS.get(key, ""))
            asker = people[(added + number) % len(people)]
            item, _new = items.file_request(
                asker,
                institution,
                kind=spec.get("kind", "publish"),
                title=spec["title"],
                description="Lo necesitamos con la mayor desagregación posible.",
                intended_use=spec["use"],
                dataset_id=dataset.id if dataset else None,
            )
            if dataset is not None and spec.get("kind", "publish") == "publish":
                item.title = spec["title"]  # demo items keep their own names, so the seed recognises them
                db.session.commit()
            for offset in range(1, spec["supporters"]):
                items.support(people[(added + number + offset * 3) % len(people)], item)
            for index, text in enumerate(COMMENTS[: 1 + number % 3]):
                comments.add_comment(people[(added + index + 5) % len(people)], text, item=item)
            if spec.get("overdue"):
                # Asked three weeks ago and still unanswered: overdue, escalated by its reminders.
                item.created_at = utcnow() - timedelta(days=21)
                item.due_on = (utcnow() - timedelta(days=4)).date()
                reminders.sync_deadline(item)
                db.session.commit()
            answer = spec.get("answer")
            if answer and liaison is not None:
                status, details = answer
                answers.answer(
                    liaison,
                    item,
                    status=status,
                    committed_on=(first_answer_due(institution) + timedelta(days=details.get("days", 30)))
                    if status == "scheduled"
                    else None,
                    dataset_url=details.get("url"),
                    reason_code=details.get("reason"),
                    explanation=details.get("explanation"),
                    legal_basis=details.get("legal_basis"),
                )
                if status in ("answered", "scheduled"):
                    comments.add_comment(
                        liaison, "Gracias por la solicitud; la respuesta oficial está arriba.", item=item
                    )
            if "merge_into" in spec and liaison is not None and created:
                items.merge(liaison, item, created[spec["merge_into"]])
            created.append(item)
            added += 1
        # One question in the forum of the first catalogue dataset.
        for dataset in list(datasets.values())[:1]:
            if not db.session.execute(select(Comment.id).where(Comment.dataset_id == dataset.id)).first():
                comments.add_comment(people[0], "¿Cada cuánto se actualiza este conjunto?", dataset=dataset)
    from demand import reports

    reports.compute_all()
    return added
