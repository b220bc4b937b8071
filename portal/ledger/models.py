"""Money in (payments) and where it went (allocations)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import Money, UTCDateTime, utcnow

PAYMENT_METHODS = ("manual", "mollie", "bank", "demo")
COMPONENTS = ("principal", "interest", "costs")


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("unallocated_amount >= 0", name="unallocated_not_negative"),
        Index("ix_payments_org_debtor", "organisation_id", "debtor_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    # What is not allocated to an invoice yet: the debtor's credit. Changed only by the allocation service.
    unallocated_amount: Mapped[Decimal] = mapped_column(Money())
    received_on: Mapped[date] = mapped_column(Date())
    method: Mapped[str] = mapped_column(String(10), default="manual")
    reference: Mapped[str] = mapped_column(String(140), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    debtor = relationship("Debtor")


class Allocation(db.Model):
    """Part of a payment or a credit note applied to one component of an invoice."""

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(payment_id IS NULL) <> (credit_note_id IS NULL)", name="one_source"),
        Index("ix_allocations_invoice", "invoice_id"),
        Index("ix_allocations_payment", "payment_id"),
        Index("ix_allocations_credit_note", "credit_note_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), default=None)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), default=None)
    component: Mapped[str] = mapped_column(String(10), default="principal")
    amount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    invoice = relationship("Invoice", foreign_keys=[invoice_id])
    payment = relationship("Payment")
