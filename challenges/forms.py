"""Forms of the challenges pages: the posted fields turned into the services' API-named data.
Pages work without JavaScript, so lists (rubric, datasets) are typed one item per line;
CSRF is checked for every form by Flask-WTF's CSRFProtect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def lines(text: str) -> list[str]:
    """The non-empty lines of a text area."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def rubric_from(text: str) -> list[dict[str, Any]]:
    """`Criterion | weight` per line."""
    rubric = []
    for line in lines(text):
        name, separator, weight = line.rpartition("|")
        if not separator:
            name, weight = line, ""
        rubric.append({"criterion": name.strip(), "weight": weight.strip() or None})
    return rubric


def datasets_from(text: str) -> list[dict[str, Any]]:
    """A catalogue dataset number, or `Title | https://…`, per line."""
    datasets: list[dict[str, Any]] = []
    for line in lines(text):
        if line.isdigit() and len(line) < 10:
            datasets.append({"dataset": int(line)})
            continue
        title, separator, url = line.rpartition("|")
        datasets.append({"title": title.strip(), "url": (url if separator else line).strip()})
    return datasets


def challenge_data(form: Mapping[str, str]) -> dict[str, Any]:
    """The challenge form as the fields `create_challenge`/`update_challenge` take."""
    return {
        "title": form.get("title", ""),
        "summary": form.get("summary", ""),
        "problem": form.get("problem", ""),
        "expected_outcomes": form.get("expected_outcomes", ""),
        "eligibility": form.get("eligibility", ""),
        "prizes": form.get("prizes", ""),
        "categories": form.get("categories", ""),
        "terms": form.get("terms", ""),
        "timezone": form.get("timezone") or None,
        "opens_at": form.get("opens_at", ""),
        "closes_at": form.get("closes_at", ""),
        "scores_due_at": form.get("scores_due_at") or None,
        "team_min": form.get("team_min") or 1,
        "team_max": form.get("team_max") or 5,
        "submission_limit": form.get("submission_limit") or 1,
        "jurors_per_submission": form.get("jurors_per_submission") or 3,
        "community_vote": form.get("community_vote") == "y",
        "rubric": rubric_from(form.get("rubric", "")),
        "datasets": datasets_from(form.get("datasets", "")),
        "event": form.get("event") or None,
    }


def submission_data(form: Mapping[str, str]) -> dict[str, Any]:
    """The submission form as the fields `submit` takes."""
    return {
        "title": form.get("title", ""),
        "summary": form.get("summary", ""),
        "repository_url": form.get("repository_url", ""),
        "demo_url": form.get("demo_url") or None,
        "licence": form.get("licence", ""),
        "datasets": datasets_from(form.get("datasets", "")),
        "accept_terms": form.get("accept_terms") == "y",
    }


def showcase_data(form: Mapping[str, str]) -> dict[str, Any]:
    """The showcase proposal form as the fields `propose` takes."""
    return {
        "kind": form.get("kind", ""),
        "title": form.get("title", ""),
        "url": form.get("url", ""),
        "description": form.get("description", ""),
        "datasets": datasets_from(form.get("datasets", "")),
    }
