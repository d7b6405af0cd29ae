"""The home page counts the data requests answered by their institutions (issue 11, item 1)."""

from __future__ import annotations

from datetime import date, timedelta
from html import unescape

from core.redis_client import get_redis
from demand import answers
from demand.home import FIGURES_CACHE_KEY, answered_count
from tests.demand.helpers import citizen, request
from tests.factories import make_institution, make_liaison


def _figure(client, headers=None) -> str:
    page = unescape(client.get("/", headers=headers or {}).get_data(as_text=True))
    return page.split('id="figures-title"')[1].split("</section>")[0]


def test_home_counts_answered_requests_in_both_languages(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        liaison = make_liaison(inegi, "enlace@inegi.example.org")
        asker = citizen("lucia@example.org")
        first, _second = request(asker, inegi), request(asker, inegi, title="Otra solicitud")
        get_redis().delete(FIGURES_CACHE_KEY)
        assert answered_count() == 0
        answers.answer(liaison, first, status="under_review")  # not a decision yet
        get_redis().delete(FIGURES_CACHE_KEY)
        assert answered_count() == 0
        answers.answer(liaison, first, status="scheduled", committed_on=date.today() + timedelta(days=30))
        get_redis().delete(FIGURES_CACHE_KEY)
    figures = _figure(client)
    assert '1</span> <span class="figure-label">solicitud de datos respondida por su institución' in figures
    english = _figure(client, {"Accept-Language": "en"})
    assert "data request answered by its institution" in english
