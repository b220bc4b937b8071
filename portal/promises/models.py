"""Promises to pay: a debtor's word that invoices will be paid by a date."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow

PROMISE_STATUSES = ("open", "kept", "broken", "withdrawn")


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
