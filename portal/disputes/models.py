"""Disputes: a debtor's objection to an invoice, and the supplier's answer."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class DisputeReason(StrEnum):
    """What the debtor says is wrong."""

    NOT_RECEIVED = "not_received"
    WRONG_AMOUNT = "wrong_amount"
    ALREADY_PAID = "already_paid"
    QUALITY = "quality"
    NOT_ORDERED = "not_ordered"
    OTHER = "other"


class DisputeStatus(StrEnum):
    """Open until the supplier resolves it."""

    OPEN = "open"
    RESOLVED = "resolved"


class DisputeResolution(StrEnum):
    """How the supplier resolved a dispute."""

    CREDITED = "credited"
    CORRECTED = "corrected"
    REJECTED = "rejected"


DISPUTE_REASONS = tuple(DisputeReason)
# The cockpit is English; these name the reasons there and on the timeline (the debtor's form has its own words).
REASON_LABELS = {
    "not_received": "not received",
    "wrong_amount": "wrong amount",
    "already_paid": "already paid",
    "quality": "quality or service",
    "not_ordered": "not ordered",
    "other": "other",
}
DISPUTE_STATUSES = tuple(DisputeStatus)
# credited: a credit note settles what was disputed; corrected: the invoice's total was changed; rejected: the
# invoice stands, the debtor is told why.
DISPUTE_RESOLUTIONS = tuple(DisputeResolution)


class Dispute(db.Model):
    """A debtor's objection to an invoice. While it is open the invoice gets no reminders (Invoice.disputed_at)."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_org_status", "organisation_id", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    reason: Mapped[DisputeReason] = mapped_column(vocabulary(DisputeReason, 20, "reason"))
    comment: Mapped[str] = mapped_column(Text(), default="")
    status: Mapped[DisputeStatus] = mapped_column(vocabulary(DisputeStatus, 10, "status"), default=DisputeStatus.OPEN)
    resolution: Mapped[DisputeResolution | None] = mapped_column(
        vocabulary(DisputeResolution, 10, "resolution"), default=None
    )
    # What the supplier tells the debtor when resolving it (mailed to them).
    resolution_message: Mapped[str] = mapped_column(Text(), default="")
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    debtor = relationship("Debtor")
    invoice = relationship("Invoice")
