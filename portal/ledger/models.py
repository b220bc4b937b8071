"""Money in (payments) and where it went (allocations)."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class PaymentMethod(StrEnum):
    """How money came in."""

    MANUAL = "manual"
    MOLLIE = "mollie"
    BANK = "bank"
    DEMO = "demo"


class Component(StrEnum):
    """What part of an invoice's claim an allocation pays."""

    PRINCIPAL = "principal"
    INTEREST = "interest"
    COSTS = "costs"


PAYMENT_METHODS = tuple(PaymentMethod)
COMPONENTS = tuple(Component)


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("unallocated_amount >= 0", name="unallocated_not_negative"),
        CheckConstraint("reversed_amount >= 0 AND reversed_amount <= amount", name="reversed_within_amount"),
        Index("ix_payments_org_debtor", "organisation_id", "debtor_id"),
        # Debtor credit: the few payments with something left, not the hundreds of thousands fully allocated.
        Index(
            "ix_payments_org_credit",
            "organisation_id",
            "currency",
            postgresql_where=text("unallocated_amount > 0"),
            sqlite_where=text("unallocated_amount > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    # What is not allocated to an invoice yet: the debtor's credit. Changed only by the allocation service.
    unallocated_amount: Mapped[Decimal] = mapped_column(Money())
    # Money that went back (a refund or a chargeback): amount = allocated + unallocated + reversed.
    reversed_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    received_on: Mapped[date] = mapped_column(Date())
    method: Mapped[PaymentMethod] = mapped_column(vocabulary(PaymentMethod, 10, "method"), default=PaymentMethod.MANUAL)
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
    component: Mapped[Component] = mapped_column(vocabulary(Component, 10, "component"), default=Component.PRINCIPAL)
    amount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    invoice = relationship("Invoice", foreign_keys=[invoice_id])
    payment = relationship("Payment")


class OpenInvoiceTotal(db.Model):
    """Open invoice amounts per organisation, currency and due date, kept by database triggers on invoices.

    The overview's totals and ageing read these few hundred rows instead of summing every open invoice; the
    triggers (migration 0004) see every write, bulk loads included. ledger_discrepancies() checks them.
    """

    __tablename__ = "open_invoice_totals"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    due_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    open_amount: Mapped[Decimal] = mapped_column(Money())
    invoice_count: Mapped[int] = mapped_column()


class DebtorBalance(db.Model):
    """What each debtor owes per currency on open invoices, kept by the same triggers."""

    __tablename__ = "debtor_balances"
    __table_args__ = (Index("ix_debtor_balances_org_currency_open", "organisation_id", "currency", "open_amount"),)

    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    open_amount: Mapped[Decimal] = mapped_column(Money())
    invoice_count: Mapped[int] = mapped_column()
