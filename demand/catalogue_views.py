"""HTML pages of the catalogue mirror: the datasets list and an institution's catalogue status."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.permissions import require
from demand import catalogue
from demand.models import Dataset

bp = Blueprint("catalogue", __name__, template_folder="templates")

# While a refresh is queued or running, its status page reloads itself this often (seconds).
STATUS_RELOAD_SECONDS = 5


def _institution_or_404(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        abort(404)
    return institution


def _int_arg(name: str, default: int = 1) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 7 else default


def dataset_page_url(dataset: Dataset) -> str | None:
    """Where a dataset is shown: its Promueve page when that exists, else its catalogue page."""
    if "demand.dataset" in current_app.view_functions:
        return url_for("demand.dataset", dataset_id=dataset.id)
    return dataset.url


@bp.app_context_processor
def _catalogue_helpers():
    return {"catalogue_status_for": catalogue.status_of, "dataset_page_url": dataset_page_url}


@bp.get("/datasets")
def list_datasets():
    """Public list of catalogue datasets: search by title, filter by institution."""
    q = (request.args.get("q") or "").strip()[:200]
    institution = (request.args.get("institution") or "").strip()[:64]
    withdrawn = request.args.get("withdrawn") == "1"
    page = catalogue.list_datasets(
        institution=institution or None, q=q or None, withdrawn=withdrawn, page=_int_arg("page")
    )
    args = {
        k: v
        for k, v in {"q": q, "institution": institution, "withdrawn": "1" if withdrawn else ""}.items()
        if v
    }
    institutions = db.session.execute(select(Institution).order_by(Institution.name)).scalars().all()
    return render_template(
        "demand/catalogue/list.html",
        page=page,
        q=q,
        institution=institution,
        withdrawn=withdrawn,
        args=args,
        institutions=institutions,
    )


@bp.get("/institutions/<slug>/catalogue")
def status(slug: str):
    """Where the institution's catalogue mirror stands; reloads itself while a refresh runs."""
    institution = _institution_or_404(slug)
    info = catalogue.status_of(institution)
    auto = info["active"] and request.args.get("auto") != "0"
    response = current_app.make_response(
        render_template(
            "demand/catalogue/status.html",
            institution=institution,
            info=info,
            auto=auto,
            reload_seconds=STATUS_RELOAD_SECONDS,
            error_labels=catalogue.ERROR_LABELS,
        )
    )
    if auto:
        # An HTTP Refresh header: the page updates without any script (CSP forbids inline ones).
        response.headers["Refresh"] = str(STATUS_RELOAD_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/institutions/<slug>/catalogue/refresh")
@login_required
def refresh(slug: str):
    """Liaisons and staff refresh their catalogue now."""
    institution = _institution_or_404(slug)
    require(current_user, "institution.catalogue.refresh", institution)
    try:
        status_row, queued = catalogue.request_refresh(institution, current_user)
    except DomainError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("catalogue.status", slug=institution.slug))
    if status_row.state == "error":
        flash(str(catalogue.ERROR_LABELS.get(status_row.error_code, status_row.error_code)), "error")
    elif queued:
        flash(_("Pedimos la actualización del catálogo; esta página muestra su avance."), "success")
    else:
        flash(_("El catálogo ya se está actualizando."), "info")
    return redirect(url_for("catalogue.status", slug=institution.slug))
