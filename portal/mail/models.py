"""Every mail Duly sends is a row first: the outbox is the record, Redis only rings the doorbell."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class MailStatus(StrEnum):
    """Where a message is: queued, handed to SMTP (sending), sent or kept in the local outbox, failed, or unknown
    (the worker stopped mid-send)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    OUTBOX = "outbox"
    FAILED = "failed"
    UNKNOWN = "unknown"


# queued -> sending (committed just before SMTP) -> sent | outbox (kept locally, no SMTP configured)
# queued -> failed (permanent refusal); sending -> unknown (a worker died mid-send: never resent automatically)
MAIL_STATUSES = tuple(MailStatus)


class MailMessage(db.Model):
    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    template: Mapped[str] = mapped_column(String(60))
    to_address: Mapped[str] = mapped_column(String(254))
    from_address: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text())
    body_html: Mapped[str] = mapped_column(Text(), default="")
    # Bodies with a secret link are blanked once an SMTP server has them.
    sensitive: Mapped[bool] = mapped_column(default=False)
    status: Mapped[MailStatus] = mapped_column(vocabulary(MailStatus, 10, "status"), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A reminder's mail: its Message-ID comes from the reminder, its outcome is the reminder's.
    reminder_id: Mapped[int | None] = mapped_column(default=None, index=True)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # Invoice PDFs to attach (InvoiceDocument ids), for invoices Duly delivers itself.
    attachment_ids: Mapped[list | None] = mapped_column(JSON(), default=None)
    # What the EPC QR code in an HTML reminder says (portal.epc): the picture is drawn when the mail is built.
    inline_qr: Mapped[dict | None] = mapped_column(JSON(), default=None)
