"""Where each institution's catalogue mirror stands: the last refresh, its progress and error."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.timeutil import UTCDateTime


class CatalogueState(enum.StrEnum):
    """idle (never refreshed) → queued → running → ok | error (and queued again)."""

    idle = "idle"
    queued = "queued"
    running = "running"
    ok = "ok"
    error = "error"


class CatalogueKind(enum.StrEnum):
    """The catalogue's software: CKAN's action API or a DCAT `data.json`."""

    ckan = "ckan"
    dcat = "dcat"


class CatalogueStatus(db.Model):
    """One row per institution whose catalogue has been refreshed (or asked to be)."""

    __tablename__ = "catalogue_status"
    __table_args__ = (
        CheckConstraint(
            "state IN ({})".format(", ".join(repr(s.value) for s in CatalogueState)), name="state"
        ),
    )

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institution.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[CatalogueState] = mapped_column(String(16), default=CatalogueState.idle)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The end of the last refresh that succeeded (what the mirror shows dates from).
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    # Progress of the running refresh: datasets read so far out of those announced.
    fetched: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column()
    # What the last successful refresh did.
    added: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    withdrawn: Mapped[int] = mapped_column(default=0)
    restored: Mapped[int] = mapped_column(default=0)
