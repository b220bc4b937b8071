"""Disputes: a debtor's objection to an invoice, and the supplier's answer."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow

DISPUTE_REASONS = ("not_received", "wrong_amount", "already_paid", "quality", "not_ordered", "other")
# The cockpit is English; these name the reasons there and on the timeline (the debtor's form has its own words).
REASON_LABELS = {
    "not_received": "not received",
    "wrong_amount": "wrong amount",
    "already_paid": "already paid",
    "quality": "quality or service",
    "not_ordered": "not ordered",
    "other": "other",
}
DISPUTE_STATUSES = ("open", "resolved")
# credited: a credit note settles what was disputed; corrected: the invoice's total was changed; rejected: the
# invoice stands, the debtor is told why.
DISPUTE_RESOLUTIONS = ("credited", "corrected", "rejected")


class Dispute(db.Model):
    """A debtor's objection to an invoice. While it is open the invoice gets no reminders (Invoice.disputed_at)."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_org_status", "organisation_id", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text(), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    resolution: Mapped[str | None] = mapped_column(String(10), default=None)
    # What the supplier tells the debtor when resolving it (mailed to them).
    resolution_message: Mapped[str] = mapped_column(Text(), default="")
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    debtor = relationship("Debtor")
    invoice = relationship("Invoice")
