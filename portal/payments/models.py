"""Online payments through Mollie: what we asked Mollie for, and what became of it."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class MollieStatus(StrEnum):
    """A Mollie payment's status as Mollie last told it ('creating' until Mollie has answered)."""

    CREATING = "creating"
    OPEN = "open"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    PAID = "paid"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"


# creating: our row exists, Mollie has not answered yet (the id is still unknown); then Mollie's own statuses.
MOLLIE_STATUSES = tuple(MollieStatus)
UNFINISHED = ("creating", "open", "pending", "authorized")


class MolliePayment(db.Model):
    __tablename__ = "mollie_payments"
    __table_args__ = (
        Index("ix_mollie_payments_org_created", "organisation_id", "created_at"),
        Index("ix_mollie_payments_debtor", "debtor_id"),
        # A double click on "pay" finds the payment the first click made: one unfinished payment per debtor and
        # choice of invoices (request_key) at a time.
        Index(
            "ux_mollie_payments_unfinished",
            "organisation_id",
            "request_key",
            unique=True,
            postgresql_where=text("status IN ('creating', 'open', 'pending', 'authorized')"),
            sqlite_where=text("status IN ('creating', 'open', 'pending', 'authorized')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"))
    # Mollie's id (tr_...), known once Mollie has answered.
    mollie_id: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    mode: Mapped[str] = mapped_column(String(4), default="test")
    status: Mapped[MollieStatus] = mapped_column(vocabulary(MollieStatus, 12, "status"), default=MollieStatus.CREATING)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str | None] = mapped_column(String(20), default=None)
    description: Mapped[str] = mapped_column(String(255), default="")
    checkout_url: Mapped[str] = mapped_column(String(500), default="")
    # The debtor and the sorted invoice ids the payment is for: the same choice twice is the same request.
    request_key: Mapped[str] = mapped_column(String(64))
    # The ledger payment it was booked as (at most once), and what Mollie later took back.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), default=None, unique=True)
    refunded_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    charged_back_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    # Why it was not booked although Mollie says paid (amount, currency or metadata differ from our records).
    flag: Mapped[str] = mapped_column(String(300), default="", server_default="")
    receipt_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Paying one installment of a payment arrangement: the items spread its amount over the plan's invoices.
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("installments.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    debtor = relationship("Debtor")
    items: Mapped[list["MolliePaymentItem"]] = relationship(
        back_populates="mollie_payment", cascade="all, delete-orphan", order_by="MolliePaymentItem.id"
    )


class MolliePaymentItem(db.Model):
    """An invoice a Mollie payment is for, with the amount that was open when the debtor chose to pay."""

    __tablename__ = "mollie_payment_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    mollie_payment_id: Mapped[int] = mapped_column(ForeignKey("mollie_payments.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())

    mollie_payment: Mapped[MolliePayment] = relationship(back_populates="items")
    invoice = relationship("Invoice")
