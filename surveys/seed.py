"""Demo data: a survey of every kind with realistic answers (idempotent, by title).

INEGI asks which Census data people need (pseudonymous, every question kind but the wiki
survey, closed with published results); CONAGUA runs an anonymous wiki survey on which
water dataset to publish first (open, with votes and an idea waiting for moderation);
SEP runs an identified survey with live results; Jalisco an invitation-only survey for
the participants of a dialogue table; CDMX has a draft.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from accounts import services as accounts
from core.extensions import db
from core.models import Institution, User
from core.timeutil import utcnow
from demand.models import Dataset
from surveys import services
from surveys.models import Survey
from surveys.services import wiki

RESPONDENT_PASSWORD = "Responde-Promueve-2026"
STATES = ["Ciudad de México", "Jalisco", "Nuevo León", "Puebla", "Oaxaca", "Yucatán", "Aguascalientes"]
SECTORS = ["academia", "civil_society", "private_sector", "government", "journalism", "citizen"]
NAMES = [
    "Ana Torres", "Luis Ortega", "Carmen Ruiz", "Miguel Ángel Soto", "Fernanda Ríos", "Raúl Castillo",
    "Daniela Flores", "Óscar Medina", "Gabriela Vega", "Iván Morales", "Rosa Delgado", "Emilio Campos",
    "Patricia Lara", "Jesús Navarro", "Alejandra Cruz", "Tomás Herrera", "Mónica Salazar", "Andrés Peña",
    "Claudia Rangel", "Sergio Fuentes", "Lorena Ibarra", "Julio Cárdenas", "Beatriz Mejía", "Ernesto Paredes",
    "Silvia Rosales", "Arturo Montes", "Irene Gallardo", "Pablo Zamora", "Noemí Villa", "Ricardo Ochoa",
    "Mariela Cortés", "Hugo Bautista", "Elena Quiroz", "Marco Ayala", "Teresa Olvera", "Adrián Pineda",
]  # fmt: skip
DATASETS = {
    "inegi": [
        ("censo-2020-microdatos", "Censo de Población y Vivienda 2020 — microdatos"),
        ("enoe", "Encuesta Nacional de Ocupación y Empleo (ENOE)"),
        ("denue", "Directorio Estadístico Nacional de Unidades Económicas (DENUE)"),
        ("marco-geoestadistico", "Marco Geoestadístico"),
    ],
    "sep": [
        ("escuelas-911", "Estadística de escuelas (formato 911)"),
        ("matricula", "Matrícula por nivel educativo y entidad"),
    ],
}
PROFESSIONS = [
    "Investigadora en demografía",
    "Periodista de datos",
    "Desarrollador de software",
    "Analista de políticas públicas",
    "Docente de secundaria",
    "Estudiante de economía",
]
IMPROVEMENTS = [
    "Publicar los datos por municipio y no solo por entidad.",
    "Tener una API con documentación y ejemplos.",
    "Actualizar con más frecuencia y avisar los cambios de metodología.",
    "Incluir diccionarios de datos en español claro.",
    "Ofrecer descargas en CSV además de los formatos propietarios.",
]


def _respondents() -> list[User]:
    people = []
    for number, name in enumerate(NAMES, start=1):
        email = f"encuestado{number:02d}@promueve.example"
        user = accounts.find_user(email)
        if user is None:
            user = accounts.create_user(
                email, RESPONDENT_PASSWORD, name=name, verified=True, sector=SECTORS[number % len(SECTORS)]
            )
            user.state = STATES[number % len(STATES)]
        people.append(user)
    db.session.commit()
    return people


def _datasets(institution: Institution) -> list[Dataset]:
    found = list(
        db.session.execute(
            select(Dataset).where(Dataset.institution_id == institution.id, Dataset.withdrawn_at.is_(None))
        ).scalars()
    )
    if found:
        return found
    for source_id, title in DATASETS.get(institution.slug, []):
        db.session.add(
            Dataset(
                institution_id=institution.id,
                source_id=source_id,
                title=title,
                url=f"https://datos.gob.mx/busca/dataset/{source_id}",
                formats="CSV",
            )
        )
    db.session.commit()
    return list(db.session.execute(select(Dataset).where(Dataset.institution_id == institution.id)).scalars())


def _existing(institution: Institution, title: str) -> Survey | None:
    return db.session.execute(
        select(Survey).where(Survey.institution_id == institution.id, Survey.title == title)
    ).scalar_one_or_none()


def _choice(question, label: str) -> int:
    return next(c.id for c in question.choices if c.label == label)


def _census_answers(survey: Survey, rng: random.Random, datasets: list[Dataset]) -> dict[str, Any]:
    q = survey.questions
    uses = ["research", "journalism", "app_or_service", "public_policy", "teaching"]
    frequency = rng.choices(["Cada semana", "Cada mes", "Rara vez", "Diario"], weights=[4, 3, 2, 1])[0]
    answers: dict[str, Any] = {
        str(q[0].id): _choice(q[0], frequency),
        str(q[1].id): [c.id for c in rng.sample(q[1].approved_choices, rng.randint(1, 3))],
        str(q[2].id): [
            c.id for c in sorted(q[2].approved_choices, key=lambda c: rng.random() + (c.position * 0.3))
        ],
        str(q[3].id): rng.choices([1, 2, 3, 4, 5], weights=[1, 2, 4, 5, 3])[0],
        str(q[4].id): rng.choice(PROFESSIONS),
        str(q[6].id): rng.choice([2, 4, 5, 8, 10, 12, 15, 20, 30]),
        str(q[7].id): {
            "datasets": [d.id for d in rng.sample(datasets, rng.randint(1, min(2, len(datasets))))],
            "new": [{"title": "Microdatos de la ENIGH por municipio"}] if rng.random() < 0.25 else [],
            "intended_use": rng.choice(uses),
        },
    }
    if rng.random() < 0.5:
        answers[str(q[5].id)] = rng.choice(IMPROVEMENTS)
    return answers


def seed_surveys() -> list[tuple[str, str, str]]:
    """Create the demo surveys that are missing; returns demo accounts to print."""
    institutions = {i.slug: i for i in db.session.execute(select(Institution)).scalars()}
    if not {"inegi", "conagua", "sep", "jalisco", "cdmx"} <= set(institutions):
        return []
    rng = random.Random(2026)
    people = _respondents()
    now = utcnow()

    inegi = institutions["inegi"]
    title = "¿Qué datos del Censo y las encuestas de INEGI necesitas?"
    if _existing(inegi, title) is None:
        datasets = _datasets(inegi)
        survey = services.create_survey(
            None,
            inegi,
            {
                "title": title,
                "description": "Queremos priorizar la publicación de datos según lo que la gente necesita y "
                "para qué los usa. Toma unos 5 minutos.",
                "privacy": "pseudonymous",
                "closes_at": now + timedelta(days=30),
                "questions": [
                    {
                        "kind": "single_choice",
                        "prompt": "¿Con qué frecuencia usas datos de INEGI?",
                        "required": True,
                        "choices": ["Diario", "Cada semana", "Cada mes", "Rara vez"],
                        "section": "Tu uso de datos",
                    },
                    {
                        "kind": "multiple_choice",
                        "prompt": "¿En qué formatos prefieres descargarlos?",
                        "choices": ["CSV", "XLSX", "JSON", "API", "Shapefile"],
                        "min": 1,
                        "max": 3,
                        "section": "Tu uso de datos",
                    },
                    {
                        "kind": "ranking",
                        "prompt": "Ordena estos temas según su prioridad para ti",
                        "choices": ["Empleo", "Vivienda", "Salud", "Educación", "Seguridad"],
                        "section": "Prioridades",
                    },
                    {
                        "kind": "rating",
                        "prompt": "¿Qué tan fácil es encontrar lo que buscas?",
                        "scale_min": 1,
                        "scale_max": 5,
                        "scale_min_label": "Muy difícil",
                        "scale_max_label": "Muy fácil",
                        "section": "Prioridades",
                    },
                    {"kind": "short_text", "prompt": "¿A qué te dedicas?", "section": "Sobre ti"},
                    {
                        "kind": "long_text",
                        "prompt": "¿Qué mejorarías de nuestros datos abiertos?",
                        "section": "Sobre ti",
                    },
                    {
                        "kind": "number",
                        "prompt": "¿Cuántas horas a la semana trabajas con datos?",
                        "min": 0,
                        "max": 80,
                        "section": "Sobre ti",
                    },
                    {
                        "kind": "dataset_demand",
                        "prompt": "¿Qué conjuntos de datos necesitas y para qué?",
                        "required": True,
                        "section": "Datos que necesitas",
                    },
                ],
            },
        )
        survey = services.open_survey(None, survey)
        for person in people[:30]:
            services.submit_response(person, survey, _census_answers(survey, rng, datasets))
        for answer, _question in services.moderation_pending(survey)[:12]:
            services.moderate_text(None, survey, answer.id, True)
        services.sync_survey_demand(survey.id)
        survey = services.close_survey(None, survey)
        services.publish_results(None, survey)

    conagua = institutions["conagua"]
    title = "¿Qué datos del agua debería publicar primero CONAGUA?"
    if _existing(conagua, title) is None:
        survey = services.create_survey(
            None,
            conagua,
            {
                "title": title,
                "description": "Compara ideas de dos en dos y agrega las tuyas. "
                "Las más votadas guiarán el plan de publicación de 2027.",
                "privacy": "anonymous",
                "closes_at": now + timedelta(days=21),
                "live_results": True,
                "questions": [
                    {
                        "kind": "pairwise",
                        "prompt": "¿Qué conjunto de datos debería publicarse primero?",
                        "choices": [
                            "Niveles diarios de las presas",
                            "Calidad del agua en ríos y lagos",
                            "Concesiones de agua por municipio",
                            "Monitor de sequía por municipio",
                            "Estaciones climatológicas en tiempo real",
                            "Descargas de aguas residuales",
                        ],
                        "min": 5,
                    },
                ],
            },
        )
        survey = services.open_survey(None, survey)
        question = survey.questions[0]
        strength = {c.id: 1.0 + 0.6 * (len(question.choices) - c.position) for c in question.choices}
        for person in people[:24]:
            for _ in range(6):
                pair = wiki.next_pair(person, survey, question)
                left, right = strength[pair.left_id], strength[pair.right_id]
                roll = rng.random()
                choice = (
                    "skip" if roll < 0.08 else ("left" if rng.random() < left / (left + right) else "right")
                )
                wiki.vote(person, survey, question, pair.token, choice)
        wiki.submit_idea(people[3], survey, question, "Volúmenes extraídos de acuíferos por año")

    sep = institutions["sep"]
    title = "Datos educativos: ¿qué te hace falta?"
    if _existing(sep, title) is None:
        datasets = _datasets(sep)
        survey = services.create_survey(
            None,
            sep,
            {
                "title": title,
                "description": "Encuesta identificada: la SEP podrá contactarte "
                "para profundizar en tu respuesta.",
                "privacy": "identified",
                "closes_at": now + timedelta(days=14),
                "live_results": True,
                "questions": [
                    {
                        "kind": "single_choice",
                        "prompt": "¿Trabajas en el sector educativo?",
                        "required": True,
                        "choices": ["Sí", "No"],
                    },
                    {
                        "kind": "short_text",
                        "prompt": "¿En qué nivel educativo?",
                        "show_if": {"question": 1, "choices": ["Sí"]},
                    },
                    {"kind": "dataset_demand", "prompt": "¿Qué datos educativos necesitas?"},
                ],
            },
        )
        survey = services.open_survey(None, survey)
        q = survey.questions
        for person in people[:9]:
            works = rng.random() < 0.6
            answers: dict[str, Any] = {str(q[0].id): _choice(q[0], "Sí" if works else "No")}
            if works:
                answers[str(q[1].id)] = rng.choice(["Primaria", "Secundaria", "Media superior"])
            answers[str(q[2].id)] = {
                "datasets": [rng.choice(datasets).id],
                "new": [],
                "intended_use": rng.choice(["teaching", "research", "public_policy"]),
            }
            services.submit_response(person, survey, answers)
        services.sync_survey_demand(survey.id)

    jalisco = institutions["jalisco"]
    title = "Seguimiento de la mesa de diálogo sobre movilidad"
    if _existing(jalisco, title) is None:
        survey = services.create_survey(
            None,
            jalisco,
            {
                "title": title,
                "description": "Solo para quienes participaron en la mesa: ¿cumplimos los acuerdos?",
                "privacy": "anonymous",
                "invitation_only": True,
                "closes_at": now + timedelta(days=10),
                "questions": [
                    {
                        "kind": "rating",
                        "prompt": "¿Qué tan útil fue la mesa?",
                        "scale_min": 0,
                        "scale_max": 10,
                        "scale_min_label": "Nada útil",
                        "scale_max_label": "Muy útil",
                        "required": True,
                    },
                    {"kind": "long_text", "prompt": "¿Qué acuerdo te parece más urgente?"},
                ],
            },
        )
        survey = services.open_survey(None, survey)
        tokens = services.create_invitations(None, survey, 5, "Participantes de la mesa de movilidad")
        for person, token in zip(people[:3], tokens, strict=False):
            services.redeem_invitation(person, token)
            services.submit_response(person, survey, {str(survey.questions[0].id): rng.randint(6, 10)})

    cdmx = institutions["cdmx"]
    title = "Borrador: uso de datos de movilidad en la CDMX"
    if _existing(cdmx, title) is None:
        services.create_survey(
            None,
            cdmx,
            {
                "title": title,
                "privacy": "pseudonymous",
                "closes_at": now + timedelta(days=45),
                "questions": [
                    {
                        "kind": "multiple_choice",
                        "prompt": "¿Qué medios de transporte usas?",
                        "choices": ["Metro", "Metrobús", "Ecobici", "Trolebús", "Auto"],
                    },
                ],
            },
        )
    return [("encuestado", "encuestado01@promueve.example", RESPONDENT_PASSWORD)]
