"""Words: counts in sentences agree with their number (ngettext), in Spanish and in English
("1 persona", never "1 personas"; "1 person", never "1 people"), and generated sentences do
not open with an institution's bare name."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from freezegun import freeze_time

from core.extensions import db
from core.models import User
from events import services as events
from notifications import services as notifications
from tests.factories import login, make_event, make_institution, make_liaison, make_user


def _speaks(email: str, locale: str) -> None:
    user = db.session.execute(db.select(User).where(User.email == email)).scalar_one()
    user.locale = locale
    db.session.commit()


def _text(client, path: str) -> str:
    return unescape(client.get(path, follow_redirects=True).get_data(as_text=True))


@pytest.mark.parametrize(
    ("locale", "expected", "wrong"),
    [
        ("es_MX", "Marcamos 1 aviso como leído.", "1 avisos"),
        ("en", "We marked 1 notification as read.", "1 notifications"),
    ],
)
def test_marking_one_notification_read_says_one(app, client, locale, expected, wrong):
    with app.app_context():
        ana = make_user("ana@example.org")
        notifications.notify_in_app(
            to=ana, kind="answers.answered", title="Te respondieron", link="/institutions"
        )
        db.session.commit()
        _speaks("ana@example.org", locale)
    login(client, "ana@example.org")
    page = unescape(client.post("/notifications/read-all", follow_redirects=True).get_data(as_text=True))
    assert expected in page and wrong not in page


@pytest.mark.parametrize(
    ("locale", "expected", "wrong"),
    [
        ("es_MX", "Cerramos 1 sesión en otro dispositivo.", "1 sesiones"),
        ("en", "We signed out 1 session on another device.", "1 sessions"),
    ],
)
def test_ending_one_other_session_says_one(app, client, locale, expected, wrong):
    with app.app_context():
        make_user("luis@example.org")
        _speaks("luis@example.org", locale)
    login(client, "luis@example.org")
    login(app.test_client(), "luis@example.org")
    page = unescape(client.post("/profile/sessions/others/end", follow_redirects=True).get_data(as_text=True))
    assert expected in page and wrong not in page


@pytest.mark.parametrize(
    ("locale", "expected", "wrong"),
    [
        ("es_MX", "Registraste la asistencia de 1 persona.", "1 personas"),
        ("en", "You checked in 1 person.", "1 people"),
    ],
)
def test_outcome_page_counts_one_person(app, client, locale, expected, wrong):
    with app.app_context():
        inegi = make_institution("inegi")
        liaison = make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi)
        registration = events.register(make_user(), event)
        event_id, starts = event.id, event.starts_at
        with freeze_time(starts + timedelta(minutes=1)):
            events.check_in(liaison, event, registration.code)
        _speaks("enlace@example.org", locale)
    login(client, "enlace@example.org")
    with freeze_time(starts + timedelta(days=1)):
        page = _text(client, f"/events/{event_id}/outcome")
    assert expected in page and wrong not in page


@pytest.mark.parametrize(
    ("locale", "expected", "wrong"),
    [
        ("es_MX", "La actividad está llena: 1 confirmado de un cupo de 1.", "1 confirmados"),
        ("en", "The event is full: 1 confirmed out of a capacity of 1.", "confirmados"),
    ],
)
def test_promote_page_counts_one_confirmed(app, client, locale, expected, wrong):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi, capacity=1)
        events.register(make_user(), event)
        waiting = events.register(make_user(name="Dora"), event)
        event_id, waiting_id = event.id, waiting.id
        _speaks("enlace@example.org", locale)
    login(client, "enlace@example.org")
    page = unescape(
        client.post(f"/events/{event_id}/registrations/{waiting_id}/promote").get_data(as_text=True)
    )
    assert expected in page and wrong not in page


# A sentence that opens with an institution's name lacks its article in Spanish
# ("Instituto Nacional … respondió"): the name goes after «La institución» instead.
_NAME_THEN_VERB = re.compile(r"""_l?\(\s*(['"])%\((institution|institution_name)\)s [a-záéíóúñ]+(ó|ió)\b""")


def test_generated_sentences_do_not_open_with_an_institution_name():
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/**/*"):
        if path.suffix not in {".py", ".html", ".txt"} or "tests" in path.parts or ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        offenders += [f"{path.relative_to(root)}: {m.group(0)}" for m in _NAME_THEN_VERB.finditer(text)]
    assert offenders == []


@pytest.mark.parametrize(
    ("locale", "at_least", "up_to"),
    [
        ("es_MX", "Elige al menos 1 opción.", "Elige hasta 1 opción."),
        ("en", "Choose at least 1 option.", "Choose up to 1 option."),
    ],
)
def test_a_multiple_choice_question_asks_for_one_option(app, locale, at_least, up_to):
    def hint(min_value, max_value) -> str:
        question = SimpleNamespace(
            id=7,
            prompt="¿Qué datos usas?",
            required=False,
            help_text="",
            show_if=None,
            kind="multiple_choice",
            min_value=min_value,
            max_value=max_value,
            approved_choices=[],
        )
        template = app.jinja_env.from_string(
            "{% from 'surveys/_question.html' import question_field %}"
            "{{ question_field(None, q, 1, {}, {}, None, False) }}"
        )
        with app.test_request_context("/"), force_locale(locale):
            return unescape(template.render(q=question))

    assert at_least in hint(1, None) and up_to in hint(None, 1)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("es_MX", "hasta 1 solución por equipo."), ("en", "up to 1 solution per team.")],
)
def test_a_challenge_with_one_solution_per_team_says_one(app, client, locale, expected):
    from tests.challenges.helpers import make_challenge

    with app.app_context():
        challenge_id = make_challenge(make_institution("inegi"), submission_limit=1).id
    page = unescape(
        client.get(
            f"/challenges/{challenge_id}", headers={"Accept-Language": locale.replace("_", "-")}
        ).get_data(as_text=True)
    )
    assert expected in page


@pytest.mark.parametrize(
    ("locale", "one", "many"),
    [
        ("es_MX", "Leídos 0 de 1 conjunto de datos.", "Leídos 3 de 7 conjuntos de datos."),
        ("en", "Read 0 of 1 dataset.", "Read 3 of 7 datasets."),
    ],
)
def test_catalogue_progress_counts_agree_with_their_number(app, locale, one, many):
    template = "{% from 'demand/catalogue/_macros.html' import progress_text %}{{ progress_text(info) }}"

    def progress(fetched: int, total: int) -> str:
        info = SimpleNamespace(state="running", progress=SimpleNamespace(fetched=fetched, total=total))
        with app.test_request_context(), force_locale(locale):
            return app.jinja_env.from_string(template).render(info=info).strip()

    assert progress(0, 1) == one
    assert progress(3, 7) == many
