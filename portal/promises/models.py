"""What a debtor says about paying: a promise to pay invoices by a date, or a claim that they were paid."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class PromiseStatus(StrEnum):
    """An open promise is settled by the clock: kept, broken, or withdrawn when a new one replaces it."""

    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    WITHDRAWN = "withdrawn"


class PromiseSource(StrEnum):
    """Where a promise was made: on the debtor's page, or taken on the phone."""

    SELFSERVICE = "selfservice"
    COCKPIT = "cockpit"


PROMISE_STATUSES = tuple(PromiseStatus)


class Promise(db.Model):
    """A promise to pay one or more invoices by a date; its invoices point to it (Invoice.promise_id)."""

    __tablename__ = "promises"
    __table_args__ = (Index("ix_promises_org_status", "organisation_id", "status", "promised_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    promised_on: Mapped[date] = mapped_column(Date())
    status: Mapped[PromiseStatus] = mapped_column(vocabulary(PromiseStatus, 10, "status"), default=PromiseStatus.OPEN)
    # selfservice or cockpit (a promise taken on the phone).
    source: Mapped[PromiseSource] = mapped_column(
        vocabulary(PromiseSource, 12, "source"), default=PromiseSource.SELFSERVICE
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    debtor = relationship("Debtor")
    invoices = relationship("Invoice", primaryjoin="Invoice.promise_id == Promise.id", viewonly=True)


# A claim's invoices, as the debtor named them: the claim's history. Which invoices the claim holds now is
# Invoice.paid_claim_id (cleared when the supplier lifts or replaces the hold).
paid_claim_invoices = Table(
    "paid_claim_invoices",
    db.metadata,
    Column("paid_claim_id", ForeignKey("paid_claims.id", ondelete="CASCADE"), primary_key=True),
    Column("invoice_id", ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True),
)


class PaidClaim(db.Model):
    """The debtor says invoices were paid ("I have already paid"): their reminders pause until ``until`` while the
    supplier looks for the money. The invoices it holds point to it (Invoice.paid_claim_id)."""

    __tablename__ = "paid_claims"
    __table_args__ = (Index("ix_paid_claims_org_created", "organisation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    # When the debtor says it paid, if it knows.
    paid_on: Mapped[date | None] = mapped_column(Date(), default=None)
    comment: Mapped[str] = mapped_column(Text(), default="")
    # Reminders about its invoices wait until this day (the organisation's paid_claim_hold_days from the claim).
    until: Mapped[date] = mapped_column(Date())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    debtor = relationship("Debtor")
    invoices = relationship("Invoice", secondary=paid_claim_invoices, order_by="Invoice.id", viewonly=True)
