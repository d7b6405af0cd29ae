"""Comments (foros) on datasets and demand items: write, edit for 15 minutes, flag, hide.

Replies by the institution's liaisons and staff are marked official. Hiding is audited
and the author is told; a hidden comment stays in the thread without its text.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core import audit
from core.choices import InstitutionRole
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.permissions import has_role
from core.timeutil import utcnow
from core.urls import external_url
from demand.models import Comment, CommentFlag, Dataset, DemandItem
from notifications.services import notify

BODY_MAX = 5000
EDIT_WINDOW = timedelta(minutes=15)
REASON_MAX = 500


def _invalid(message: Any, field: str) -> DomainError:
    return DomainError(message, field=field, status=422)


def _clean_body(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(_l("Escribe tu comentario."), "body")
    value = value.strip()
    if len(value) > BODY_MAX:
        raise _invalid(_l("Escribe como máximo %(n)s caracteres.", n=BODY_MAX), "body")
    return value


def get_comment(comment_id: int) -> Comment | None:
    return db.session.execute(
        select(Comment).where(Comment.id == comment_id).options(joinedload(Comment.author))
    ).scalar_one_or_none()


def comments_on(*, item: DemandItem | None = None, dataset: Dataset | None = None) -> list[Comment]:
    """The thread of an item or a dataset, oldest first (hidden ones included, without text)."""
    query = select(Comment).options(joinedload(Comment.author)).order_by(Comment.created_at, Comment.id)
    query = (
        query.where(Comment.item_id == item.id)
        if item is not None
        else query.where(Comment.dataset_id == dataset.id)
    )
    return list(db.session.execute(query).scalars())


def add_comment(
    author: User, body: Any, *, item: DemandItem | None = None, dataset: Dataset | None = None
) -> Comment:
    """A signed-in, verified person comments; official when they speak for the institution."""
    if not author.is_verified:
        raise DomainError(_l("Confirma tu correo para comentar."), status=403, code="not_verified")
    target = item if item is not None else dataset
    text = _clean_body(body)
    official = has_role(author, target, InstitutionRole.liaison, InstitutionRole.staff)
    comment = Comment(
        institution_id=target.institution_id,
        item_id=item.id if item is not None else None,
        dataset_id=dataset.id if dataset is not None else None,
        author_id=author.id,
        body=text,
        official=official,
        created_at=utcnow(),
    )
    db.session.add(comment)
    db.session.flush()
    if official:
        audit.record("demand.comment.official", comment, actor=author)
    db.session.commit()
    return comment


def editable(comment: Comment, user: Any) -> bool:
    """Its author may edit it for 15 minutes, while it is not hidden."""
    return bool(
        getattr(user, "is_authenticated", False)
        and comment.author_id == user.id
        and comment.hidden_at is None
        and utcnow() - comment.created_at <= EDIT_WINDOW
    )


def edit_comment(user: User, comment: Comment, body: Any) -> Comment:
    """Change one's own comment within 15 minutes of writing it."""
    if comment.author_id != user.id:
        raise DomainError(_l("Solo quien escribió el comentario puede editarlo."), status=403)
    if comment.hidden_at is not None:
        raise DomainError(_l("El comentario está oculto."), code="hidden")
    if utcnow() - comment.created_at > EDIT_WINDOW:
        raise DomainError(_l("Un comentario se puede editar durante 15 minutos."), code="edit_window_closed")
    comment.body = _clean_body(body)
    comment.edited_at = utcnow()
    db.session.commit()
    return comment


def flag_comment(user: User, comment: Comment, reason: Any = None) -> bool:
    """Anyone signed in flags a comment once; False when they had already."""
    reason = (reason.strip()[:300] or None) if isinstance(reason, str) else None
    try:
        with db.session.begin_nested():
            db.session.add(CommentFlag(comment_id=comment.id, user_id=user.id, reason=reason))
    except IntegrityError:
        db.session.rollback()
        return False
    db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id)
        .values(flags_count=Comment.flags_count + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return True


def flagged_comments(institution_id: int) -> list[Comment]:
    """Visible comments with flags, most flagged first (for the institution's moderators)."""
    return list(
        db.session.execute(
            select(Comment)
            .where(
                Comment.institution_id == institution_id, Comment.flags_count > 0, Comment.hidden_at.is_(None)
            )
            .options(joinedload(Comment.author))
            .order_by(Comment.flags_count.desc(), Comment.id)
        ).scalars()
    )


def hide_comment(actor: User, comment: Comment, reason: Any) -> Comment:
    """An institution's liaison or staff hides a comment with a reason; audited, author told."""
    if not isinstance(reason, str) or not reason.strip():
        raise _invalid(_l("Explica por qué ocultas el comentario."), "reason")
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise _invalid(_l("Escribe como máximo %(n)s caracteres.", n=REASON_MAX), "reason")
    if comment.hidden_at is not None:
        raise DomainError(_l("El comentario ya está oculto."), code="already_hidden")
    comment.hidden_at = utcnow()
    comment.hidden_by_id = actor.id
    comment.hidden_reason = reason
    audit.record("demand.comment.hide", comment, actor=actor, details={"reason": reason})
    author = db.session.get(User, comment.author_id) if comment.author_id else None
    if author is not None and author.deleted_at is None:
        if comment.item_id:
            url = external_url("demand.detail", item_id=comment.item_id)
        else:
            url = external_url("demand.dataset", dataset_id=comment.dataset_id)
        notify(
            to=author,
            kind="demand.comment_hidden",
            subject=LazyString(lambda: _("Ocultamos uno de tus comentarios")),
            template="demand/email/comment_hidden",
            dedupe_key=f"demand:comment-hidden:{comment.id}",
            context={"reason": reason, "thread_url": url, "body": comment.body},
        )
    db.session.commit()
    return comment
