"""Time zones by city (never an IANA id) and dates through Babel, in both languages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale

from core.i18n import format_day, timezone_choices, timezone_city, timezone_label, utc_offset_label
from core.timeutil import mexican_timezones, utcnow

ROOT = Path(__file__).resolve().parents[2]
WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, tzinfo=UTC)


@pytest.fixture
def request_ctx(app):
    with app.test_request_context():
        yield


@pytest.mark.parametrize(
    ("zone", "spanish", "english"),
    [
        ("America/Mexico_City", "Ciudad de México", "Mexico City"),
        ("America/Tijuana", "Tijuana", "Tijuana"),
        ("America/Cancun", "Cancún", "Cancún"),
        ("America/Hermosillo", "Hermosillo", "Hermosillo"),
        ("America/Chihuahua", "Chihuahua", "Chihuahua"),
        ("America/Mazatlan", "Mazatlán", "Mazatlán"),
        ("America/Ciudad_Juarez", "Ciudad Juárez", "Ciudad Juárez"),
        ("America/Bahia_Banderas", "Bahía de Banderas", "Bahía de Banderas"),
    ],
)
def test_zones_are_named_by_their_city_in_each_language(request_ctx, zone, spanish, english):
    with force_locale("es_MX"):
        assert timezone_city(zone) == spanish
    with force_locale("en"):
        assert timezone_city(zone) == english


def test_offsets_follow_the_date_and_use_a_real_minus_sign():
    # Mexico City has had no daylight saving time since 2022; Tijuana follows the US.
    assert utc_offset_label("America/Mexico_City", WINTER) == "UTC\u22126"
    assert utc_offset_label("America/Mexico_City", SUMMER) == "UTC\u22126"
    assert utc_offset_label("America/Tijuana", WINTER) == "UTC\u22128"
    assert utc_offset_label("America/Tijuana", SUMMER) == "UTC\u22127"
    assert utc_offset_label("America/Cancun", WINTER) == "UTC\u22125"
    assert utc_offset_label("Asia/Kolkata", WINTER) == "UTC+5:30"
    assert utc_offset_label("UTC", WINTER) == "UTC"


def test_the_choice_list_shows_cities_never_iana_ids(request_ctx):
    with force_locale("es_MX"):
        choices = timezone_choices()
        assert timezone_label("America/Hermosillo", WINTER) == "Hermosillo (UTC\u22127)"
    values = [choice.value for choice in choices]
    labels = [str(choice.label) for choice in choices]
    assert values[-1] == "UTC"
    offsets = [utcnow().astimezone(ZoneInfo(zone)).utcoffset() for zone in values[1:-1]]
    assert offsets == sorted(offsets), "west to east after Mexico City"
    assert set(values) == {*mexican_timezones(), "UTC"}
    assert values[0] == "America/Mexico_City" and labels[0].startswith("Ciudad de México (UTC")
    assert not any("/" in label or "_" in label for label in labels), labels
    assert all(re.fullmatch(r"[^()]+ \(UTC(\u2212\d+)?\)", label) for label in labels[:-1]), labels
    with force_locale("en"):
        assert str(timezone_choices()[0].label).startswith("Mexico City (UTC")


def test_unknown_or_empty_zones_are_shown_as_given(request_ctx):
    assert timezone_city("") == ""
    assert timezone_city("UTC") == "UTC"
    assert timezone_city("Mars/Olympus_Mons") == "Mars/Olympus_Mons"


def test_dates_are_written_out_in_the_locale(request_ctx):
    day = date(2026, 12, 19)
    with force_locale("es_MX"):
        assert format_day(day) == "19 de diciembre de 2026"
        assert format_day("2026-12-19") == "19 de diciembre de 2026"  # email contexts keep ISO strings
        assert format_day(datetime(2026, 12, 19, 23, 30, tzinfo=UTC)) == "19 de diciembre de 2026"
        assert format_day(day, "full") == "sábado, 19 de diciembre de 2026"
    with force_locale("en"):
        assert format_day(day) == "December 19, 2026"
    assert format_day(None) == "" and format_day("") == ""


def test_forms_offer_the_zones_by_city(app, client):
    from tests.factories import login, make_user

    with app.app_context():
        make_user("ana@example.org")
    login(client, "ana@example.org")
    page = client.get("/profile").get_data(as_text=True)
    assert ">Ciudad de México (UTC\u22126)</option>" in page
    assert ">America/Mexico_City<" not in page and "America/Mexico City" not in page


def test_templates_never_print_raw_iso_dates():
    """Dates a person reads go through the Babel formatters; `.isoformat()` and `|string` on a
    date are only for machine-readable attributes (datetime=, value=, URLs)."""
    offenders = []
    for path in ROOT.glob("*/templates/**/*.*"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in re.finditer(r"\{\{[^}]*?(\.isoformat\(\)|(_on|_at|date)\|string)[^}]*\}\}", line):
                before = line[: match.start()]
                if re.search(r'(datetime|value)="$', before) or "url_for(" in match.group(0):
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert not offenders, "\n".join(offenders)
