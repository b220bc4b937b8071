"""Bank statements imported, their transactions and what became of each, and the debtors' accounts Duly learned."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class TransactionStatus(StrEnum):
    """What became of a bank transaction."""

    BOOKED = "booked"
    RETURNED = "returned"
    SUGGESTED = "suggested"
    UNMATCHED = "unmatched"
    IGNORED = "ignored"
    DISMISSED = "dismissed"


# booked: paid invoices (or the debtor's credit); returned: reversed an earlier booked payment; suggested: a likely
# match for the supplier to confirm; unmatched: no idea; ignored: a debit that is not a return (the supplier's own
# spending); dismissed: the supplier said it is not a customer payment.
class StatementStatus(StrEnum):
    """A statement uploaded in the cockpit waits for the worker (queued), runs, and ends done or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


STATUSES = tuple(TransactionStatus)
QUEUE = (TransactionStatus.SUGGESTED, TransactionStatus.UNMATCHED)


class BankStatement(db.Model):
    __tablename__ = "bank_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str] = mapped_column(String(10))  # camt053 | mt940
    account: Mapped[str] = mapped_column(String(40), default="")
    statement_ref: Mapped[str] = mapped_column(String(100), default="")
    # What the import found: entries (after batches were split) and how many of each outcome; "known" were in an
    # earlier import of the same transactions and were left alone.
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    # Uploaded in the cockpit, a statement is imported by the worker: queued -> running -> done | failed, with
    # its transactions done so far for the progress bar; the file is kept until then. The command line imports
    # at once (done).
    status: Mapped[StatementStatus] = mapped_column(
        vocabulary(StatementStatus, 10, "status"), default=StatementStatus.DONE
    )
    content: Mapped[bytes | None] = mapped_column(LargeBinary(), default=None, deferred=True)
    error: Mapped[str] = mapped_column(String(500), default="")
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankTransaction(db.Model):
    __tablename__ = "bank_transactions"
    __table_args__ = (
        # The same transaction in a second import (or an overlapping statement) is known by this key.
        UniqueConstraint("organisation_id", "dedup_key"),
        Index("ix_bank_transactions_queue", "organisation_id", "status", "booking_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    dedup_key: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(40), default="")
    booking_date: Mapped[date] = mapped_column(Date())
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    credit: Mapped[bool] = mapped_column()
    is_return: Mapped[bool] = mapped_column(default=False)
    return_reason: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    iban: Mapped[str] = mapped_column(String(40), default="")
    reference: Mapped[str] = mapped_column(String(40), default="")
    end_to_end: Mapped[str] = mapped_column(String(100), default="")
    remittance: Mapped[str] = mapped_column(String(500), default="")
    bank_reference: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[TransactionStatus] = mapped_column(vocabulary(TransactionStatus, 10, "status"))
    # How it was matched (reference, numbers, iban_amount, by hand) or why it was not.
    how: Mapped[str] = mapped_column(String(200), default="")
    # Candidate invoice ids for the supplier, best first.
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), default=None)
    # A return: the booked payment it reversed.
    reversed_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), default=None)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    statement = relationship("BankStatement")
    debtor = relationship("Debtor")


class DebtorAccount(db.Model):
    """A bank account a debtor paid from: learned from matched payments, used to match the next one."""

    __tablename__ = "debtor_accounts"
    __table_args__ = (UniqueConstraint("organisation_id", "iban"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    iban: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
