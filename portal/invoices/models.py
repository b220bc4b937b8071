"""Invoices and credit notes. Their open amount is stored and changed only by the allocation service."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.extensions import db
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class InvoiceKind(StrEnum):
    """What a document is: an invoice, or a credit note (stored negative)."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceSource(StrEnum):
    """How an invoice came in."""

    MANUAL = "manual"
    CSV = "csv"
    UBL = "ubl"
    API = "api"
    DEMO = "demo"


class InvoiceStatus(StrEnum):
    """Open while anything is owed on it; paid once its open amount is nothing."""

    OPEN = "open"
    PAID = "paid"


INVOICE_KINDS = tuple(InvoiceKind)
INVOICE_SOURCES = tuple(InvoiceSource)
# open: something left to pay (or, for a credit note, credit left to use); paid: nothing left.
INVOICE_STATUSES = tuple(InvoiceStatus)


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organisation_id", "kind", "number"),
        CheckConstraint("open_amount >= 0", name="open_amount_not_negative"),
        CheckConstraint(
            "(kind = 'invoice' AND total >= 0) OR (kind = 'credit_note' AND total <= 0)", name="total_sign"
        ),
        # The cockpit's lists page by (due_date, id) within a status; a debtor's invoices; search by number or
        # reference. With these, every list page is an index range scan however many invoices there are.
        Index("ix_invoices_org_status_due", "organisation_id", "status", "due_date", "id"),
        Index("ix_invoices_org_due", "organisation_id", "due_date", "id"),
        Index("ix_invoices_org_debtor", "organisation_id", "debtor_id", "due_date"),
        # varchar_pattern_ops: the same index serves "=" and a prefix LIKE whatever the database's collation.
        Index("ix_invoices_org_number", "organisation_id", "number", postgresql_ops={"number": "varchar_pattern_ops"}),
        Index("ix_invoices_org_reference", "organisation_id", "payment_reference"),
        # Partial: nearly no invoice corrects another, and a paid invoice's new row version need not go in (migration
        # 0016: one index entry fewer for each invoice a bank statement pays).
        Index(
            "ix_invoices_corrects",
            "corrects_invoice_id",
            postgresql_where=text("corrects_invoice_id IS NOT NULL"),
            sqlite_where=text("corrects_invoice_id IS NOT NULL"),
        ),
        # Open invoices with interest or costs, whose claim is more than their principal: few (migration 0016).
        Index(
            "ix_invoices_org_charged",
            "organisation_id",
            "due_date",
            postgresql_where=text("status = 'open' AND (costs_charged > 0 OR interest_from IS NOT NULL)"),
            sqlite_where=text("status = 'open' AND (costs_charged > 0 OR interest_from IS NOT NULL)"),
        ),
        # Unused credit on the overview: the few open credit notes, not every document.
        Index(
            "ix_invoices_open_credit",
            "organisation_id",
            "currency",
            postgresql_where=text("kind = 'credit_note' AND status = 'open'"),
            sqlite_where=text("kind = 'credit_note' AND status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"))
    kind: Mapped[InvoiceKind] = mapped_column(vocabulary(InvoiceKind, 12, "kind"), default=InvoiceKind.INVOICE)
    number: Mapped[str] = mapped_column(String(50))
    issue_date: Mapped[date] = mapped_column(Date())
    due_date: Mapped[date | None] = mapped_column(Date(), default=None)  # a credit note may have none
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Positive for an invoice, negative for a credit note.
    total: Mapped[Decimal] = mapped_column(Money())
    # Invoice: total minus its principal allocations. Credit note: credit not yet used. Never below zero.
    open_amount: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[InvoiceStatus] = mapped_column(vocabulary(InvoiceStatus, 10, "status"), default=InvoiceStatus.OPEN)
    payment_reference: Mapped[str] = mapped_column(String(35), default="")
    source: Mapped[InvoiceSource] = mapped_column(vocabulary(InvoiceSource, 10, "source"), default=InvoiceSource.MANUAL)
    # The invoice a credit note corrects (UBL BillingReference), when known.
    corrects_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), default=None)
    settled_on: Mapped[date | None] = mapped_column(Date(), default=None)
    # The position of the last scenario step sent for this invoice: each invoice walks the scenario on its own.
    # -1: waiting for Duly to deliver the invoice itself (the organisation's deliver_invoices setting).
    last_step: Mapped[int] = mapped_column(default=0, server_default="0")
    # No reminders for it up to and including hold_until; nor while a promise to pay (promised_on) stands or a
    # dispute is open.
    hold_until: Mapped[date | None] = mapped_column(Date(), default=None)
    hold_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # The date the debtor promised to pay by; reminders wait until it plus the organisation's grace has passed.
    promised_on: Mapped[date | None] = mapped_column(Date(), default=None)
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promises.id", ondelete="SET NULL"), default=None)
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The debtor's claim that it was paid which holds the invoice now (its hold_until is the claim's); cleared when
    # the supplier lifts or replaces the hold.
    paid_claim_id: Mapped[int | None] = mapped_column(ForeignKey("paid_claims.id", ondelete="SET NULL"), default=None)
    # Late-payment law, set when a scenario step that adds them is sent (portal.law.charges; what they make the
    # invoice owe on a day: portal.ledger.claims): collection costs (VAT included; costs_vat the VAT in it), owed
    # from costs_from on (for a consumer: the day after the 14-day letter's period, costs_notice_until), and what of
    # them has been paid; statutory interest from interest_from on (the day after the due date), and what of it has
    # been paid.
    costs_charged: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    costs_vat: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    costs_paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    costs_from: Mapped[date | None] = mapped_column(Date(), default=None)
    costs_notice_until: Mapped[date | None] = mapped_column(Date(), default=None)
    interest_from: Mapped[date | None] = mapped_column(Date(), default=None)
    interest_paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"), server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    debtor = relationship("Debtor")
    document: Mapped["InvoiceDocument | None"] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", uselist=False
    )

    @property
    def is_credit_note(self) -> bool:
        return self.kind == "credit_note"

    def is_overdue(self, today: date) -> bool:
        return not self.is_credit_note and self.status == "open" and self.due_date is not None and self.due_date < today


class InvoiceDocument(db.Model):
    """The invoice's PDF, kept apart so that invoice lists never load it."""

    __tablename__ = "invoice_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary()))

    invoice: Mapped[Invoice] = relationship(back_populates="document")
