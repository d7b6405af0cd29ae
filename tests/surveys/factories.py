"""Factories for survey tests."""

from __future__ import annotations

from datetime import timedelta

from core.extensions import db
from core.timeutil import utcnow
from demand.models import Dataset
from surveys import services

EVERY_KIND = [
    {
        "kind": "single_choice",
        "prompt": "¿Con qué frecuencia usas datos abiertos?",
        "required": True,
        "choices": ["Diario", "Cada semana", "Rara vez"],
    },
    {
        "kind": "multiple_choice",
        "prompt": "¿Qué formatos prefieres?",
        "choices": ["CSV", "JSON", "XLSX", "API"],
        "min": 1,
        "max": 3,
    },
    {
        "kind": "ranking",
        "prompt": "Ordena los temas por prioridad",
        "choices": ["Salud", "Educación", "Seguridad"],
    },
    {
        "kind": "rating",
        "prompt": "¿Qué tan fácil es encontrar los datos?",
        "scale_min": 1,
        "scale_max": 5,
        "scale_min_label": "Muy difícil",
        "scale_max_label": "Muy fácil",
    },
    {"kind": "short_text", "prompt": "¿A qué te dedicas?"},
    {"kind": "long_text", "prompt": "¿Qué mejorarías?"},
    {"kind": "number", "prompt": "¿Cuántas horas a la semana trabajas con datos?", "min": 0, "max": 80},
    {"kind": "dataset_demand", "prompt": "¿Qué datos necesitas?"},
    {
        "kind": "pairwise",
        "prompt": "¿Qué conjunto debería publicarse primero?",
        "choices": ["Contratos", "Padrón de escuelas", "Calidad del aire", "Presupuesto por municipio"],
    },
]


def make_dataset(institution, title: str = "Calidad del aire", source_id: str | None = None) -> Dataset:
    dataset = Dataset(
        institution_id=institution.id,
        source_id=source_id or title.lower().replace(" ", "-"),
        title=title,
        url=f"https://datos.gob.mx/{title.lower().replace(' ', '-')}",
    )
    db.session.add(dataset)
    db.session.commit()
    return dataset


def make_survey(
    institution, *, privacy: str = "pseudonymous", questions=None, open_now: bool = True, actor=None, **fields
):
    data = {
        "title": fields.pop("title", "¿Qué datos necesitas?"),
        "description": "Queremos saber qué datos usar y para qué.",
        "privacy": privacy,
        "closes_at": fields.pop("closes_at", utcnow() + timedelta(days=10)),
        "questions": questions
        if questions is not None
        else [
            {
                "kind": "single_choice",
                "prompt": "¿Usas datos abiertos?",
                "required": True,
                "choices": ["Sí", "No"],
            },
            {"kind": "dataset_demand", "prompt": "¿Qué datos necesitas?"},
        ],
        **fields,
    }
    survey = services.create_survey(actor, institution, data)
    if open_now:
        survey = services.open_survey(actor, survey)
    return survey


def choice_id(survey, question_index: int, label: str) -> int:
    question = survey.questions[question_index]
    return next(c.id for c in question.choices if c.label == label)
