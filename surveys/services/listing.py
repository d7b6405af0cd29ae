"""Lists of surveys for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from core.choices import InstitutionRole
from core.extensions import db
from core.models import Institution, Membership, User
from surveys.models import Survey, SurveyQuestion, SurveyStatus

PUBLIC_STATUSES = (SurveyStatus.open, SurveyStatus.closed, SurveyStatus.published, SurveyStatus.scheduled)


@dataclass
class Page:
    items: list[Survey] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 20

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def managed_institution_ids(user: Any) -> list[int]:
    """Institutions whose surveys this person manages."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    if user.is_admin:
        return list(db.session.execute(select(Institution.id)).scalars())
    return list(
        db.session.execute(
            select(Membership.institution_id).where(
                Membership.user_id == user.id,
                Membership.role.in_([InstitutionRole.liaison, InstitutionRole.staff]),
            )
        ).scalars()
    )


def list_surveys(
    *,
    institution: str | None = None,
    status: str | None = None,
    viewer: User | None = None,
    page: int = 1,
    per_page: int = 20,
    managed_only: bool = False,
) -> Page:
    """Surveys the viewer may see, newest close first; drafts only for their managers."""
    managed = managed_institution_ids(viewer)
    visible = Survey.status.in_(PUBLIC_STATUSES)
    if managed:
        visible = or_(visible, Survey.institution_id.in_(managed))
    query = select(Survey).where(visible)
    if managed_only:
        query = query.where(Survey.institution_id.in_(managed or [-1]))
    if institution:
        query = query.join(Institution, Institution.id == Survey.institution_id).where(
            Institution.slug == institution
        )
    if status:
        query = query.where(Survey.status == status)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = (
        db.session.execute(
            query.options(
                joinedload(Survey.institution),
                selectinload(Survey.sections),
                selectinload(Survey.questions).selectinload(SurveyQuestion.choices),
            )
            .order_by(Survey.closes_at.desc(), Survey.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        .scalars()
        .all()
    )
    return Page(items=list(items), total=total, page=page, per_page=per_page)


def open_surveys(limit: int = 100) -> list[Survey]:
    """Surveys accepting answers now, closing soonest first."""
    return list(
        db.session.execute(
            select(Survey)
            .where(Survey.status == SurveyStatus.open)
            .options(joinedload(Survey.institution))
            .order_by(Survey.closes_at, Survey.id)
            .limit(limit)
        ).scalars()
    )
