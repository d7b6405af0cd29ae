"""Submissions: solutions with versions until the close.

The per-team limit is counted under the team's row lock; the close is enforced inside
the transaction twice: the window is checked under the challenge's row lock (FOR SHARE,
so a close or a moved deadline waits for submissions in flight), and on PostgreSQL a
deferred constraint trigger compares the database clock with `closes_at` at COMMIT, so a
submission whose commit lands after the close is refused even if it was checked before.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from challenges.models import Challenge, Submission, SubmissionAttachment, SubmissionVersion, Team, TeamMember
from challenges.services.common import (
    CLOSE_CHECK_SETTING,
    COMMIT_DELAY_SETTING,
    clean_dataset_refs,
    clean_licence,
    clean_text,
    clean_url,
    is_member,
    lock_challenge,
    lock_team,
    window_open,
)
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow

MAX_ATTACHMENTS = 5
# Kinds accepted, recognised by their first bytes (the name and the declared type are ignored).
SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"%PDF-", 0, "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"PK\x03\x04", 0, "application/zip", ".zip"),
)


@dataclass
class Upload:
    """A file as received: the name the person gave it and its bytes."""

    filename: str
    data: bytes


def storage_dir() -> Path:
    """Where attachments live: under instance/, never under static/."""
    path = Path(
        current_app.config.get("CHALLENGES_FILES_DIR") or Path(current_app.instance_path) / "challenge_files"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the content, or None when not an accepted kind."""
    for magic, offset, content_type, extension in SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return content_type, extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def _safe_name(filename: str, extension: str) -> str:
    name = Path((filename or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return (stem[:200] or "archivo") + extension


def prepare_attachments(uploads: Iterable[Upload]) -> list[dict[str, Any]]:
    """Check and store files (generated names); returns rows to attach. Nothing is kept on refusal."""
    uploads = [u for u in uploads if u is not None and (u.data or u.filename)]
    if len(uploads) > MAX_ATTACHMENTS:
        raise DomainError(
            _l("Adjunta hasta %(n)s archivos.", n=MAX_ATTACHMENTS), field="attachments", status=422
        )
    limit = current_app.config.get("CHALLENGES_ATTACHMENT_MAX_BYTES", 3 * 1024 * 1024)
    prepared: list[dict[str, Any]] = []
    for upload in uploads:
        if not upload.data:
            raise DomainError(_l("El archivo está vacío."), field="attachments", status=422)
        if len(upload.data) > limit:
            raise DomainError(
                _l("Cada archivo puede pesar hasta %(mb)s MB.", mb=round(limit / 1024 / 1024, 1)),
                field="attachments",
                status=413,
                code="attachment_too_large",
            )
        kind = sniff(upload.data)
        if kind is None:
            raise DomainError(
                _l("Tipo de archivo no admitido: adjunta PDF, PNG, JPEG, GIF, WebP o ZIP."),
                field="attachments",
                status=415,
                code="unsupported_attachment",
            )
        content_type, extension = kind
        prepared.append(
            {
                "original_name": _safe_name(upload.filename, extension),
                "content_type": content_type,
                "size": len(upload.data),
                "sha256": hashlib.sha256(upload.data).hexdigest(),
                "data": upload.data,
            }
        )
    directory = storage_dir()
    for row in prepared:
        row["stored_name"] = secrets.token_hex(16)
        (directory / row["stored_name"]).write_bytes(row.pop("data"))
    return prepared


def _discard(prepared: list[dict[str, Any]]) -> None:
    for row in prepared:
        (storage_dir() / row["stored_name"]).unlink(missing_ok=True)


def attachment_path(attachment: SubmissionAttachment) -> Path:
    return storage_dir() / attachment.stored_name


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    if data.get("accept_terms") is not True:
        raise DomainError(
            _l("Acepta las bases vigentes del reto para enviar."),
            field="accept_terms",
            status=422,
            code="terms_not_accepted",
        )
    return {
        "title": clean_text(data.get("title"), "title", 200, required=True),
        "summary": clean_text(data.get("summary"), "summary", 5000, required=True),
        "repository_url": clean_url(data.get("repository_url"), "repository_url", required=True),
        "demo_url": clean_url(data.get("demo_url"), "demo_url"),
        "licence": clean_licence(data.get("licence")),
        "datasets_used": [
            {"dataset_id": r["dataset_id"], "title": r["title"], "url": r["url"]}
            for r in clean_dataset_refs(data.get("datasets"), "datasets")
        ],
    }


def _closed() -> DomainError:
    return DomainError(_l("El reto ya no recibe soluciones: cerró."), code="submissions_closed")


def _commit_before_close(challenge: Challenge, prepared: list[dict[str, Any]]) -> None:
    """Commit, refused when the database finds the close passed at commit time."""
    check = current_app.config.get(CLOSE_CHECK_SETTING, True)
    is_postgres = db.session.get_bind().dialect.name == "postgresql"
    if not check and is_postgres:
        db.session.execute(text("SET LOCAL promueve.challenge_close_check = 'off'"))
    delay = current_app.config.get(COMMIT_DELAY_SETTING)
    if delay:
        time.sleep(float(delay))
    if check and not is_postgres and utcnow() >= challenge.closes_at:
        # SQLite has no deferred triggers; its one writer at a time makes this the commit.
        db.session.rollback()
        _discard(prepared)
        raise _closed()
    try:
        db.session.commit()
    except DBAPIError as exc:
        db.session.rollback()
        _discard(prepared)
        if "challenge_submissions_closed" in str(exc.orig):
            raise _closed() from None
        raise


def submit(
    user: User,
    team: Team,
    data: Mapping[str, Any],
    uploads: Iterable[Upload] = (),
    *,
    submission: Submission | None = None,
) -> SubmissionVersion:
    """A new solution (version 1) or, with `submission`, its next version, before the close."""
    if not is_member(user, team):
        raise DomainError(_l("Solo las personas del equipo envían sus soluciones."), status=403)
    if submission is not None and submission.team_id != team.id:
        raise DomainError(_l("Esta solución es de otro equipo."), status=403)
    values = _clean(data)
    prepared = prepare_attachments(uploads)
    try:
        challenge = lock_challenge(team.challenge_id, shared=True)
        team = lock_team(team.id)
        if not window_open(challenge):
            raise _closed()
        if challenge.team_min > 1 and (
            db.session.execute(
                select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team.id)
            ).scalar_one()
            < challenge.team_min
        ):
            raise DomainError(
                _l("El reto pide equipos de al menos %(n)s personas.", n=challenge.team_min),
                code="team_too_small",
            )
        terms = challenge.current_terms
        now = utcnow()
        if submission is None:
            solutions = db.session.execute(
                select(func.count()).select_from(Submission).where(Submission.team_id == team.id)
            ).scalar_one()
            if solutions >= challenge.submission_limit:
                raise DomainError(
                    _l(
                        "Tu equipo ya envió %(n)s soluciones, el límite del reto; envía una nueva "
                        "versión de una de ellas.",
                        n=challenge.submission_limit,
                    ),
                    code="submission_limit",
                )
            submission = Submission(
                team_id=team.id, challenge_id=challenge.id, current_version=1, created_at=now, updated_at=now
            )
            db.session.add(submission)
            db.session.flush()
            number, previous = 1, None
        else:
            submission = db.session.execute(
                select(Submission)
                .where(Submission.id == submission.id)
                .execution_options(populate_existing=True)
            ).scalar_one()
            previous = submission.latest
            number = submission.current_version + 1
            submission.current_version = number
            submission.updated_at = now
        version = SubmissionVersion(
            submission_id=submission.id,
            version=number,
            terms_version=terms.version,
            terms_sha256=terms.sha256,
            submitted_by_id=user.id,
            submitted_at=now,
            **values,
        )
        db.session.add(version)
        db.session.flush()
        if previous is not None:
            for old in previous.attachments:
                db.session.add(
                    SubmissionAttachment(
                        version_id=version.id,
                        original_name=old.original_name,
                        stored_name=old.stored_name,
                        content_type=old.content_type,
                        size=old.size,
                        sha256=old.sha256,
                    )
                )
        for row in prepared:
            db.session.add(SubmissionAttachment(version_id=version.id, **row))
        audit.record(
            "challenge.submission",
            submission,
            actor=user,
            institution_id=challenge.institution_id,
            details={"version": number, "terms_version": terms.version, "terms_sha256": terms.sha256},
        )
    except DomainError:
        db.session.rollback()
        _discard(prepared)
        raise
    _commit_before_close(challenge, prepared)
    return version


def team_submissions(team_id: int) -> list[Submission]:
    """A team's solutions with their versions."""
    from sqlalchemy.orm import selectinload

    return list(
        db.session.execute(
            select(Submission)
            .where(Submission.team_id == team_id)
            .options(selectinload(Submission.versions).selectinload(SubmissionVersion.attachments))
            .order_by(Submission.id)
        ).scalars()
    )


def challenge_submissions(challenge_id: int) -> list[Submission]:
    """Every solution of a challenge with its team and versions."""
    from sqlalchemy.orm import joinedload, selectinload

    return list(
        db.session.execute(
            select(Submission)
            .where(Submission.challenge_id == challenge_id)
            .options(joinedload(Submission.team), selectinload(Submission.versions))
            .order_by(Submission.id)
        ).scalars()
    )


def get_attachment(attachment_id: int) -> SubmissionAttachment | None:
    return db.session.get(SubmissionAttachment, attachment_id)
