"""The showcase (/apps): winning solutions and what people build on open data, published
after an admin or the institution of one of its datasets approves it."""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from challenges.models import (
    Challenge,
    ShowcaseDataset,
    ShowcaseItem,
    ShowcaseKind,
    ShowcaseStatus,
    Submission,
)
from challenges.services.common import PAGE_SIZE, clean_dataset_refs, clean_text, clean_url
from challenges.services.submissions import Upload, storage_dir
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from notifications.models import Category
from notifications.services import notify


def image_kind(data: bytes) -> str | None:
    """The image type when `data` is a well-formed PNG, JPEG, GIF or WebP header, else None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "image/png" if width and height else None
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "image/gif" if width and height else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:15] == b"VP8":
        return "image/webp"
    if data[:3] == b"\xff\xd8\xff":
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                return None
            marker = data[index + 1]
            length = struct.unpack(">H", data[index + 2 : index + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return "image/jpeg" if width and height else None
            index += 2 + length
        return None
    return None


def _store_screenshot(upload: Upload | None) -> tuple[str | None, str | None]:
    from flask import current_app

    if upload is None or not upload.data:
        return None, None
    limit = current_app.config.get("CHALLENGES_ATTACHMENT_MAX_BYTES", 3 * 1024 * 1024)
    if len(upload.data) > limit:
        raise DomainError(
            _l("La captura puede pesar hasta %(mb)s MB.", mb=round(limit / 1024 / 1024, 1)),
            field="screenshot",
            status=413,
            code="attachment_too_large",
        )
    kind = image_kind(upload.data)
    if kind is None:
        raise DomainError(
            _l("La captura debe ser una imagen PNG, JPEG, GIF o WebP."),
            field="screenshot",
            status=415,
            code="unsupported_attachment",
        )
    name = secrets.token_hex(16)
    (storage_dir() / name).write_bytes(upload.data)
    return name, kind


def propose(user: User, data: dict[str, Any], screenshot: Upload | None = None) -> ShowcaseItem:
    """Propose an app, visualisation, tool, study or article (published after review)."""
    kind = data.get("kind")
    if kind not in ShowcaseKind.__members__:
        raise DomainError(_l("Elige un tipo de la lista."), field="kind", status=422)
    title = clean_text(data.get("title"), "title", 200, required=True)
    url = clean_url(data.get("url"), "url", required=True)
    description = clean_text(data.get("description"), "description", 5000) or ""
    refs = clean_dataset_refs(data.get("datasets"), "datasets")
    stored, content_type = _store_screenshot(screenshot)
    item = ShowcaseItem(
        kind=ShowcaseKind(kind),
        title=title,
        url=url,
        description=description,
        status=ShowcaseStatus.pending,
        proposed_by_id=user.id,
        screenshot_name=stored,
        screenshot_type=content_type,
    )
    item.datasets = [
        ShowcaseDataset(
            dataset_id=r["dataset_id"], institution_id=r["institution_id"], title=r["title"], url=r["url"]
        )
        for r in refs
    ]
    db.session.add(item)
    db.session.flush()
    audit.record("showcase.propose", item, actor=user, details={"title": title})
    db.session.commit()
    return item


def review(actor: User, item: ShowcaseItem, approve: bool, note: Any = None) -> ShowcaseItem:
    """Publish or reject a proposal; the person who proposed it is told."""
    if item.status != ShowcaseStatus.pending:
        raise DomainError(_l("Esta propuesta ya fue revisada."), code="illegal_transition")
    note_text = clean_text(note, "note", 2000)
    if not approve and not note_text:
        raise DomainError(_l("Explica por qué no se aprueba."), field="note", status=422)
    item.status = ShowcaseStatus.published if approve else ShowcaseStatus.rejected
    item.reviewed_by_id = actor.id
    item.reviewed_at = utcnow()
    item.review_note = note_text
    proposer = db.session.get(User, item.proposed_by_id) if item.proposed_by_id else None
    if proposer is not None and proposer.deleted_at is None:
        url = external_url("challenges.showcase_item", item_id=item.id)
        notify(
            to=proposer,
            kind="challenges.showcase_reviewed",
            subject=_l("Tu propuesta «%(title)s» se publicó", title=item.title)
            if approve
            else _l("Tu propuesta «%(title)s» no se aprobó", title=item.title),
            template="challenges/email/notice",
            dedupe_key=f"showcase-reviewed:{item.id}",
            context={
                "lines": [note_text] if note_text else [_l("Ya aparece en la vitrina de aplicaciones.")],
                "url": url,
                "challenge_title": item.title,
                "institution_name": None,
            },
            category=Category.challenges,
            link=url,
        )
    audit.record(
        "showcase.review", item, actor=actor, details={"approved": bool(approve), "note": note_text or ""}
    )
    db.session.commit()
    return item


def feature_winner(actor: User | None, challenge: Challenge, submission: Submission) -> ShowcaseItem:
    """Bring an awarded team's solution to the showcase (the award is the approval)."""
    existing = db.session.execute(
        select(ShowcaseItem).where(ShowcaseItem.submission_id == submission.id)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    latest = submission.latest
    item = ShowcaseItem(
        kind=ShowcaseKind.app,
        title=latest.title,
        url=latest.demo_url or latest.repository_url,
        description=latest.summary,
        status=ShowcaseStatus.published,
        submission_id=submission.id,
        proposed_by_id=actor.id if actor else None,
        reviewed_by_id=actor.id if actor else None,
        reviewed_at=utcnow(),
    )
    rows = [
        ShowcaseDataset(
            dataset_id=d.get("dataset_id"),
            institution_id=_institution_of_dataset(d.get("dataset_id")) or challenge.institution_id,
            title=d.get("title") or "",
            url=d.get("url"),
        )
        for d in latest.datasets_used
    ] or [
        ShowcaseDataset(
            dataset_id=d.dataset_id, institution_id=challenge.institution_id, title=d.title, url=d.url
        )
        for d in challenge.datasets
    ]
    item.datasets = rows
    db.session.add(item)
    return item


def _institution_of_dataset(dataset_id: int | None) -> int | None:
    from demand.models import Dataset

    if not dataset_id:
        return None
    dataset = db.session.get(Dataset, dataset_id)
    return dataset.institution_id if dataset else None


@dataclass
class ShowcasePage:
    items: list[ShowcaseItem]
    total: int
    page: int
    pages: int


def list_showcase(
    *,
    kind: str | None = None,
    institution_id: int | None = None,
    dataset_id: int | None = None,
    page: int = 1,
) -> ShowcasePage:
    """Published items, newest first, filtered by kind, institution and dataset."""
    query = select(ShowcaseItem).where(ShowcaseItem.status == ShowcaseStatus.published)
    if kind in ShowcaseKind.__members__:
        query = query.where(ShowcaseItem.kind == kind)
    if institution_id:
        in_datasets = select(ShowcaseDataset.item_id).where(ShowcaseDataset.institution_id == institution_id)
        from_challenge = (
            select(Submission.id)
            .join(Challenge, Challenge.id == Submission.challenge_id)
            .where(Challenge.institution_id == institution_id)
        )
        query = query.where(
            or_(ShowcaseItem.id.in_(in_datasets), ShowcaseItem.submission_id.in_(from_challenge))
        )
    if dataset_id:
        query = query.where(
            ShowcaseItem.id.in_(
                select(ShowcaseDataset.item_id).where(ShowcaseDataset.dataset_id == dataset_id)
            )
        )
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = max(1, page)
    items = list(
        db.session.execute(
            query.options(selectinload(ShowcaseItem.datasets))
            .order_by(ShowcaseItem.created_at.desc(), ShowcaseItem.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        ).scalars()
    )
    return ShowcasePage(items, total, page, max(1, -(-total // PAGE_SIZE)))


def pending_for(user: User) -> list[ShowcaseItem]:
    """Proposals this person may review (admins: all; liaisons/staff: their datasets')."""
    query = (
        select(ShowcaseItem)
        .where(ShowcaseItem.status == ShowcaseStatus.pending)
        .options(selectinload(ShowcaseItem.datasets))
        .order_by(ShowcaseItem.id)
    )
    if not user.is_admin:
        institution_ids = [m.institution_id for m in user.memberships]
        if not institution_ids:
            return []
        query = query.where(
            ShowcaseItem.id.in_(
                select(ShowcaseDataset.item_id).where(ShowcaseDataset.institution_id.in_(institution_ids))
            )
        )
    return list(db.session.execute(query).scalars())


def get_item(item_id: int) -> ShowcaseItem | None:
    return db.session.execute(
        select(ShowcaseItem).where(ShowcaseItem.id == item_id).options(selectinload(ShowcaseItem.datasets))
    ).scalar_one_or_none()


def screenshot_path(item: ShowcaseItem):
    return storage_dir() / item.screenshot_name if item.screenshot_name else None
