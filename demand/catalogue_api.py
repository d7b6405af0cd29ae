"""JSON API of the catalogue mirror: an institution's catalogue status and refresh, datasets."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from core.api import ApiBlueprint, api_abort, api_user, auth_required
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.permissions import can
from demand import catalogue

blp = ApiBlueprint(
    "catalogue_api",
    __name__,
    description="Institutions' open-data catalogues mirrored: status, refresh, datasets.",
)
SECURED = [{"bearerAuth": []}]


class ProgressSchema(ma.Schema):
    fetched = ma.fields.Integer()
    total = ma.fields.Integer(allow_none=True)
    percent = ma.fields.Integer(allow_none=True)


class LastRunSchema(ma.Schema):
    added = ma.fields.Integer()
    updated = ma.fields.Integer()
    withdrawn = ma.fields.Integer()
    restored = ma.fields.Integer()


class CatalogueStatusSchema(ma.Schema):
    state = ma.fields.String(metadata={"enum": ["idle", "queued", "running", "ok", "error"]})
    refreshed_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "End of the last good refresh."}
    )
    error = ma.fields.String(
        allow_none=True, metadata={"description": "What went wrong in the last refresh."}
    )
    error_code = ma.fields.String(allow_none=True)
    datasets = ma.fields.Integer(metadata={"description": "Datasets in the catalogue now (not withdrawn)."})
    requested_at = ma.fields.DateTime(allow_none=True)
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    progress = ma.fields.Nested(ProgressSchema)
    last_run = ma.fields.Nested(LastRunSchema)
    kind = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    organization = ma.fields.String(allow_none=True)


class CatalogueDatasetSchema(ma.Schema):
    id = ma.fields.Integer()
    institution = ma.fields.Function(lambda d: d.institution.slug)
    source_id = ma.fields.String(metadata={"description": "The dataset's id in its catalogue."})
    title = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True, metadata={"description": "The dataset's page in the catalogue."})
    formats = ma.fields.Function(lambda d: [f.strip() for f in (d.formats or "").split(",") if f.strip()])
    modified_at = ma.fields.DateTime(allow_none=True)
    withdrawn_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class DatasetQuerySchema(ma.Schema):
    institution = ma.fields.String(validate=ma.validate.Length(max=64))
    q = ma.fields.String(validate=ma.validate.Length(max=200))
    withdrawn = ma.fields.Boolean(
        load_default=False, metadata={"description": "Include datasets withdrawn from the catalogue."}
    )


def _institution_or_404(slug: str) -> Institution:
    institution = db.session.execute(select(Institution).where(Institution.slug == slug)).scalar_one_or_none()
    if institution is None:
        api_abort(404, _("No existe la institución '%(slug)s'.", slug=slug))
    return institution


@blp.route("/institutions/<slug>/catalogue")
class CatalogueStatusItem(MethodView):
    @blp.response(200, CatalogueStatusSchema)
    def get(self, slug: str):
        """Where the institution's catalogue mirror stands (public)."""
        return catalogue.status_of(_institution_or_404(slug))


@blp.route("/institutions/<slug>/catalogue/refresh")
class CatalogueRefresh(MethodView):
    @blp.doc(security=SECURED)
    @blp.response(202, CatalogueStatusSchema)
    @auth_required
    def post(self, slug: str):
        """Refresh the catalogue now (its liaisons and staff, admins); a refresh already queued or
        running is not queued twice."""
        institution = _institution_or_404(slug)
        if not can(api_user(), "institution.catalogue.refresh", institution):
            api_abort(403, _("No se te permite hacer esto."))
        try:
            catalogue.request_refresh(institution, api_user())
        except DomainError as exc:
            fields = {exc.field: [str(exc.message)]} if exc.field else None
            api_abort(exc.status, str(exc.message), code=exc.code, fields=fields)
        return catalogue.status_of(institution)


@blp.route("/datasets")
class Datasets(MethodView):
    @blp.arguments(DatasetQuerySchema, location="query")
    @blp.response(200, CatalogueDatasetSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=100)
    def get(self, args, pagination_parameters):
        """Catalogue datasets by title (`q`) and institution; `X-Pagination` has the totals."""
        page = catalogue.list_datasets(
            institution=args.get("institution") or None,
            q=args.get("q") or None,
            withdrawn=args["withdrawn"],
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items


@blp.route("/datasets/<id:dataset_id>")
class DatasetItem(MethodView):
    @blp.response(200, CatalogueDatasetSchema)
    def get(self, dataset_id: int):
        """One catalogue dataset (withdrawn ones too: demand may point at them)."""
        dataset = catalogue.get_dataset(dataset_id)
        if dataset is None:
            api_abort(404, _("No existe ese conjunto de datos."))
        return dataset
