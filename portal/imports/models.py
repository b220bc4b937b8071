"""Invoice imports: a remembered CSV header mapping per organisation, and one batch per uploaded file."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class ImportKind(StrEnum):
    """The file format of an import."""

    CSV = "csv"
    UBL = "ubl"


class ImportStatus(StrEnum):
    """Where an uploaded import is."""

    UPLOADED = "uploaded"
    PREVIEWED = "previewed"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# uploaded -> previewed (errors listed, nothing stored) -> queued -> running -> done | failed
IMPORT_STATUSES = tuple(ImportStatus)


class ImportMapping(db.Model):
    """Which CSV column holds which field, remembered per organisation for the next file."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("organisation_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[ImportKind] = mapped_column(vocabulary(ImportKind, 10, "kind"), default=ImportKind.CSV)
    # field name -> header in the file, e.g. {"number": "Factuurnummer", "total": "Bedrag"}
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ImportBatch(db.Model):
    """One uploaded file: kept until it is imported, with its progress and the reasons of refused rows."""

    __tablename__ = "import_batches"
    __table_args__ = (Index("ix_import_batches_org_created", "organisation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[ImportKind] = mapped_column(vocabulary(ImportKind, 10, "kind"))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary()))
    status: Mapped[ImportStatus] = mapped_column(vocabulary(ImportStatus, 10, "status"), default=ImportStatus.UPLOADED)
    # The column mapping its user confirmed (field -> header; "" leaves a field unmapped): the worker imports with
    # exactly this, whatever another user remembers for the organisation meanwhile.
    mapping: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    # [{"row": 7, "field": "total", "message": "not an amount: 'abc'"}, ...] (capped)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
