"""Payment arrangements: what a debtor owes on some invoices, split into installments over a period."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint, exists, select
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from portal.extensions import db
from portal.invoices.models import Invoice
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class ArrangementStatus(StrEnum):
    """Where a payment plan is (see above)."""

    PROPOSED = "proposed"
    OFFERED = "offered"
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    REJECTED = "rejected"
    COUNTERED = "countered"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class ArrangementSource(StrEnum):
    """Who made a plan: the debtor on its page, or the supplier."""

    SELFSERVICE = "selfservice"
    COCKPIT = "cockpit"


class Frequency(StrEnum):
    """How often an installment falls due."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"


class NoticeStage(StrEnum):
    """An installment's friendly reminder: days before its date, or on it."""

    BEFORE = "before"
    DUE = "due"


# proposed: the debtor asked, the supplier decides. offered: the supplier's counter-proposal, the debtor decides.
# active: running (its invoices leave their scenario). completed, broken, rejected, countered (answered by an
# offer), declined (the debtor turned an offer down), withdrawn (replaced by a newer plan for the same invoices).
STATUSES = tuple(ArrangementStatus)
LIVE = ("proposed", "offered", "active")
FREQUENCIES = tuple(Frequency)


class Arrangement(db.Model):
    __tablename__ = "arrangements"
    __table_args__ = (
        CheckConstraint("total > 0", name="total_positive"),
        CheckConstraint("installment_count >= 1", name="installments_at_least_one"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    status: Mapped[ArrangementStatus] = mapped_column(
        vocabulary(ArrangementStatus, 10, "status"), default=ArrangementStatus.PROPOSED
    )
    source: Mapped[ArrangementSource] = mapped_column(
        vocabulary(ArrangementSource, 12, "source"), default=ArrangementSource.SELFSERVICE
    )  # selfservice | cockpit
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money())
    installment_count: Mapped[int] = mapped_column()
    frequency: Mapped[Frequency] = mapped_column(vocabulary(Frequency, 8, "frequency"))
    first_due: Mapped[date] = mapped_column(Date())
    note: Mapped[str] = mapped_column(String(500), default="")  # the debtor's, with the proposal
    message: Mapped[str] = mapped_column(String(1000), default="")  # the supplier's, with a decision
    # Within the organisation's limits, so approved without waiting for the supplier.
    auto_approved: Mapped[bool] = mapped_column(default=False)
    # Why a proposal waits for the supplier (outside the automatic limits), in the cockpit.
    review_reason: Mapped[str] = mapped_column(String(300), default="")
    # A counter-proposal names the proposal it answers.
    counter_of_id: Mapped[int | None] = mapped_column(ForeignKey("arrangements.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    debtor = relationship("Debtor")
    items: Mapped[list["ArrangementInvoice"]] = relationship(
        back_populates="arrangement", cascade="all, delete-orphan", order_by="ArrangementInvoice.position"
    )
    installments: Mapped[list["Installment"]] = relationship(
        back_populates="arrangement", cascade="all, delete-orphan", order_by="Installment.position"
    )

    @property
    def last_due(self) -> date:
        return self.installments[-1].due_on


class ArrangementInvoice(db.Model):
    """An invoice in a plan, with what was open on it when the plan was made: the plan's total is their sum."""

    __tablename__ = "arrangement_invoices"
    __table_args__ = (UniqueConstraint("arrangement_id", "invoice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column()  # the order payments go to the invoices: oldest due first
    amount: Mapped[Decimal] = mapped_column(Money())

    arrangement: Mapped[Arrangement] = relationship(back_populates="items")
    invoice = relationship("Invoice")


class Installment(db.Model):
    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("arrangement_id", "position"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()  # 1, 2, ...
    due_on: Mapped[date] = mapped_column(Date())
    amount: Mapped[Decimal] = mapped_column(Money())

    arrangement: Mapped[Arrangement] = relationship(back_populates="installments")


class InstallmentNotice(db.Model):
    """A friendly reminder of one installment, at most once per stage (before the due date, on it)."""

    __tablename__ = "installment_notices"
    __table_args__ = (UniqueConstraint("installment_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("installments.id", ondelete="CASCADE"))
    stage: Mapped[NoticeStage] = mapped_column(vocabulary(NoticeStage, 8, "stage"))  # before | due
    mail_message_id: Mapped[int | None] = mapped_column(ForeignKey("mail_messages.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# Whether an invoice is in an active payment plan, as a deferred column of Invoice: dispatch loads it with the
# reminder (one query for everything its checks need); elsewhere it is read only when asked. Defined here, beside
# the tables it reads, so that invoices know nothing of plans (portal.models imports both before any query).
Invoice.in_running_plan = column_property(
    exists(
        select(ArrangementInvoice.id)
        .join(Arrangement, Arrangement.id == ArrangementInvoice.arrangement_id)
        .where(ArrangementInvoice.invoice_id == Invoice.id, Arrangement.status == "active")
    ),
    deferred=True,
)
