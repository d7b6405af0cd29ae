"""Demo challenges: one in every state, with teams, submissions, a jury with scores, results,
awards and a showcase. Idempotent: a challenge whose title exists is left alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from accounts import services as accounts_services
from challenges import services
from challenges.models import Challenge, ShowcaseItem
from core.extensions import db
from core.models import Institution, User
from core.timeutil import utcnow

PASSWORD = "Equipo-Reto-2026"
JUROR_PASSWORD = "Jurado-Reto-2026"
TERMS = (
    "## Bases\n\n1. Pueden participar equipos de personas residentes en México.\n"
    "2. Las soluciones se publican con una licencia abierta de la lista SPDX.\n"
    "3. El jurado evalúa con la rúbrica publicada; su decisión es inapelable.\n"
    "4. La institución puede contratar a los equipos ganadores conforme a la ley."
)
RUBRIC = [
    {"criterion": "Impacto público", "weight": 3, "description": "¿Resuelve el problema para mucha gente?"},
    {"criterion": "Uso de datos abiertos", "weight": 2},
    {"criterion": "Viabilidad técnica", "weight": 2},
    {"criterion": "Experiencia de uso", "weight": 1},
]
TEAMS = [
    ("Ruta Clara", ["valeria.mendez@ejemplo.mx", "tomas.ibarra@ejemplo.mx"]),
    ("Datos al Paso", ["rocio.garza@ejemplo.mx", "emilio.fuentes@ejemplo.mx", "ines.pacheco@ejemplo.mx"]),
    ("Metro Vivo", ["arturo.solis@ejemplo.mx"]),
]
JURORS = [
    ("dra.ana.zepeda@unam.example", "Ana Zepeda"),
    ("mtro.luis.beltran@itam.example", "Luis Beltrán"),
    ("lic.carmen.olvera@civica.example", "Carmen Olvera"),
]
# (title, target state, institution slug)
CHALLENGES = [
    ("Reto: trámites sin filas", "draft", "cdmx"),
    ("Reto: calidad del aire en tu colonia", "published", "cdmx"),
    ("Reto: movilidad segura para ciclistas", "open", "cdmx"),
    ("Reto: agua para cada escuela", "closed", "conagua"),
    ("Reto: abasto de medicamentos", "judging", "salud"),
    ("Reto: transparencia del gasto educativo", "results_published", "sep"),
    ("Reto: mapa vivo del censo", "awarded", "inegi"),
    ("Reto: presupuesto participativo 2026", "cancelled", "jalisco"),
]


def _user(email: str, name: str, password: str) -> User:
    user = accounts_services.find_user(email)
    if user is None:
        user = accounts_services.create_user(
            email, password, name=name, verified=True, sector="private_sector"
        )
        db.session.commit()
    return user


def _datathon_id(institution: Institution) -> int | None:
    from events import services as event_services

    page = event_services.list_events(
        event_services.EventFilters(kind="datathon", institution=institution.slug)
    )
    return page.items[0].id if page.items else None


def _create(title: str, institution: Institution, liaison: User | None, state: str) -> Challenge:
    now = utcnow().replace(second=0, microsecond=0)
    future_open = state in ("draft", "published")
    data: dict[str, Any] = {
        "title": title,
        "summary": "Propón una solución digital con datos abiertos de " + institution.name + ".",
        "problem": "Las personas no encuentran información clara y a tiempo. ¿Cómo pueden los datos "
        "abiertos ayudarles a decidir mejor?",
        "expected_outcomes": "Un prototipo funcional, su código abierto y una demostración pública.",
        "eligibility": "Equipos de 1 a 4 personas residentes en México.",
        "prizes": "Primer lugar: contrato de implementación por hasta $250,000 MXN. Menciones honoríficas.",
        "categories": ["movilidad", "datos abiertos"],
        "terms": TERMS,
        "opens_at": now + timedelta(days=3) if future_open else now - timedelta(days=10),
        "closes_at": now + timedelta(days=30) if future_open else now + timedelta(days=2),
        "team_min": 1,
        "team_max": 4,
        "submission_limit": 2,
        "jurors_per_submission": 2,
        "community_vote": state in ("closed", "judging", "results_published", "awarded"),
        "rubric": RUBRIC,
        "datasets": [
            {
                "title": "Catálogo de " + (institution.acronym or institution.name),
                "url": institution.catalogue_url,
            }
        ]
        if institution.catalogue_url
        else [],
        "event": _datathon_id(institution),
    }
    challenge = services.create_challenge(liaison, institution, data)
    if state != "draft":
        services.publish_challenge(liaison, challenge)
    return services.get_challenge(challenge.id)


def _teams_and_submissions(challenge: Challenge, index: int) -> list[int]:
    submission_ids = []
    for team_number, (name, emails) in enumerate(TEAMS):
        people = [
            _user(f"{index}.{email}", email.split("@")[0].replace(".", " ").title(), PASSWORD)
            for email in emails
        ]
        team = services.team_of(people[0], challenge.id) or services.create_team(people[0], challenge, name)
        token = services.invite_token(team)
        for person in people[1:]:
            if services.team_of(person, challenge.id) is None:
                services.join_team(person, services.get_team(team.id), token)
        version = services.submit(
            people[0],
            services.get_team(team.id),
            {
                "title": f"{name}: prototipo",
                "summary": "Una aplicación web que cruza los datos del reto y avisa a la gente a tiempo.",
                "repository_url": f"https://github.com/promueve-demo/{name.lower().replace(' ', '-')}",
                "demo_url": f"https://{name.lower().replace(' ', '')}.example.org",
                "licence": ["MIT", "Apache-2.0", "AGPL-3.0-or-later"][team_number % 3],
                "accept_terms": True,
            },
        )
        services.submit(
            people[-1],
            services.get_team(team.id),
            {
                "title": f"{name}: versión final",
                "summary": "Mejoramos la interfaz y agregamos alertas por correo.",
                "repository_url": f"https://github.com/promueve-demo/{name.lower().replace(' ', '-')}",
                "licence": ["MIT", "Apache-2.0", "AGPL-3.0-or-later"][team_number % 3],
                "accept_terms": True,
            },
            submission=services.get_submission(version.submission_id),
        )
        submission_ids.append(version.submission_id)
    return submission_ids


def _close_now(challenge: Challenge) -> Challenge:
    """Bring the close into the past (demo time travel), then close as the beat would."""
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge.id)
        .values(closes_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    services.close_challenge(None, services.get_challenge(challenge.id))
    return services.get_challenge(challenge.id)


def _judge(challenge: Challenge, liaison: User | None, submission_ids: list[int]) -> None:
    jurors = [_user(email, name, JUROR_PASSWORD) for email, name in JURORS]
    services.start_judging(liaison, challenge)
    challenge = services.get_challenge(challenge.id)
    for juror in jurors:
        if services.juror_for(juror, challenge.id) is None:
            services.add_juror(liaison, challenge, juror.email)
    services.assign(liaison, services.get_challenge(challenge.id), 2, 2026)
    for submission_id in submission_ids:
        services.set_eligibility(liaison, services.get_submission(submission_id), True, "")
    for juror_number, juror in enumerate(jurors):
        for assignment in services.assignments_of(juror):
            if assignment.challenge_id != challenge.id:
                continue
            base = 9 - submission_ids.index(assignment.submission_id) - juror_number * 0.5
            values = {c["criterion"]: max(0.0, min(10.0, base - k * 0.5)) for k, c in enumerate(RUBRIC)}
            services.score(
                juror, services.get_submission(assignment.submission_id), values, "Propuesta sólida."
            )


def seed_challenges() -> list[tuple[str, str, str]]:
    """Create the demo challenges that are missing; returns demo accounts to print."""
    institutions = {i.slug: i for i in db.session.execute(select(Institution)).scalars()}
    if not all(slug in institutions for _t, _s, slug in CHALLENGES):
        return []
    for index, (title, state, slug) in enumerate(CHALLENGES):
        if db.session.execute(select(Challenge.id).where(Challenge.title == title)).first():
            continue
        institution = institutions[slug]
        liaison = next(
            (m.user for m in institution.memberships if str(m.role) == "liaison"),
            None,
        )
        challenge = _create(title, institution, liaison, state)
        if state in ("draft", "published"):
            continue
        if state == "cancelled":
            services.cancel_challenge(
                liaison, challenge, "Se pospone por el calendario presupuestal del estado."
            )
            continue
        submission_ids = _teams_and_submissions(challenge, index)
        if challenge.status == "open" and state == "open":
            continue
        challenge = _close_now(challenge)
        if state == "closed":
            continue
        _judge(challenge, liaison, submission_ids)
        if state == "judging":
            continue
        services.publish_results(liaison, services.get_challenge(challenge.id))
        if state == "results_published":
            continue
        winner = services.ranking(services.get_challenge(challenge.id))[0]
        services.award(
            liaison, services.get_challenge(challenge.id), [{"team": winner.team_id, "award": "Primer lugar"}]
        )
    _showcase()
    return [
        ("equipo", f"2.{TEAMS[0][1][0]}", PASSWORD),
        ("jurado", JURORS[0][0], JUROR_PASSWORD),
    ]


def _showcase() -> None:
    proposals = [
        ("app", "Semáforo del agua", "https://semaforo-agua.example.org", "conagua", True),
        ("visualisation", "Mapa de escuelas sin internet", "https://escuelas.example.org", "sep", True),
        ("tool", "Limpiador de CSV del censo", "https://limpiador.example.org", "inegi", True),
        (
            "article",
            "Lo que dicen los egresos hospitalarios",
            "https://periodico.example.org/egresos",
            "salud",
            False,
        ),
    ]
    author = _user("autora.apps@ejemplo.mx", "Paola Quintero", PASSWORD)
    admin = (
        db.session.execute(select(User).where(User.is_admin.is_(True)).order_by(User.id)).scalars().first()
    )
    for kind, title, url, slug, publish in proposals:
        if db.session.execute(select(ShowcaseItem.id).where(ShowcaseItem.title == title)).first():
            continue
        institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one()
        item = services.propose(
            author,
            {
                "kind": kind,
                "title": title,
                "url": url,
                "description": "Hecho con datos abiertos de " + institution.name + ".",
                "datasets": [
                    {
                        "title": "Catálogo de " + (institution.acronym or slug),
                        "url": institution.catalogue_url,
                    }
                ],
            },
        )
        for row in item.datasets:
            row.institution_id = institution.id  # the demo's catalogue links are the institution's
        db.session.commit()
        if publish and admin is not None:
            services.review(admin, services.get_item(item.id), True)
