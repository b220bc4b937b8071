"""What the debtor does without an account: the links that open the page, promises to pay and disputes."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow

# message: carried by a reminder or a delivery; manual: made in the cockpit or by `flask debtors link` to pass on
# by hand (a new one revokes the previous manual one); mailed: sent on request from the expired-link page or the
# cockpit.
LINK_KINDS = ("message", "manual", "mailed")
PROMISE_STATUSES = ("open", "kept", "broken", "withdrawn")
DISPUTE_REASONS = ("not_received", "wrong_amount", "already_paid", "quality", "not_ordered", "other")
DISPUTE_STATUSES = ("open", "resolved")
# credited: a credit note settles what was disputed; corrected: the invoice's total was changed; rejected: the
# invoice stands, the debtor is told why.
DISPUTE_RESOLUTIONS = ("credited", "corrected", "rejected")


class AccessLink(db.Model):
    __tablename__ = "access_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    # The reminder whose mail carried it, when one did.
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(10), default="message", server_default="message")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Promise(db.Model):
    """A promise to pay one or more invoices by a date; its invoices point to it (Invoice.promise_id)."""

    __tablename__ = "promises"
    __table_args__ = (Index("ix_promises_org_status", "organisation_id", "status", "promised_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    promised_on: Mapped[date] = mapped_column(Date())
    status: Mapped[str] = mapped_column(String(10), default="open")
    # selfservice or cockpit (a promise taken on the phone).
    source: Mapped[str] = mapped_column(String(12), default="selfservice")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    debtor = relationship("Debtor")
    invoices = relationship("Invoice", primaryjoin="Invoice.promise_id == Promise.id", viewonly=True)


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
