"""The private calendar feed's token: one active per person, revocable, stored hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import User
from core.timeutil import UTCDateTime, utcnow


class CalendarFeedToken(db.Model):
    """A person's secret `/calendar/<token>.ics` link.

    Only the SHA-256 of the token is stored (like API tokens), so the table alone does not
    open anyone's calendar. The token itself is an HMAC of `salt` with the SECRET_KEY, which
    lets the owner see their webcal:// link again without the database holding it.
    """

    __tablename__ = "calendar_feed_token"
    __table_args__ = (
        # One working link per person: regenerating revokes the previous one.
        Index(
            "uq_calendar_feed_token_active",
            "user_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        """Whether the link still opens the feed."""
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<CalendarFeedToken {self.id} user={self.user_id}>"
