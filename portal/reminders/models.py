"""Reminders: what planning keeps on the schedule and dispatch sends, with the calendar planning reads."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.scenarios.models import Scenario, Step
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class ReminderStatus(StrEnum):
    """Where a reminder is in its life (see the ladder above)."""

    SCHEDULED = "scheduled"
    BLOCKED = "blocked"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNKNOWN = "unknown"
    TODO = "todo"
    DONE = "done"


class ReminderKind(StrEnum):
    """A reminder of a step, or the delivery of a new invoice."""

    REMINDER = "reminder"
    DELIVERY = "delivery"


# scheduled -> claimed (a worker holds it until lease_until) -> sending (committed just before SMTP) -> sent
# scheduled -> skipped (nothing left to remind of at claim time); sending -> failed (refused) | unknown (the worker
# stopped mid-send: never resent by itself); blocked: held back by the supplier; phone steps: todo -> done.
REMINDER_STATUSES = tuple(ReminderStatus)
# Statuses in which a reminder has (or may have) reached the debtor: the minimum gap counts from these.
CONTACT_STATUSES = ("claimed", "sending", "sent", "unknown", "todo", "done")
# Statuses whose invoices planning must not touch: a worker has them, or the supplier set them.
HELD_STATUSES = ("claimed", "sending", "blocked")
KINDS = tuple(ReminderKind)


class Reminder(db.Model):
    """One contact with a debtor on one day, about every invoice whose next step is due by then."""

    __tablename__ = "reminders"
    __table_args__ = (
        # Planning keeps at most one unpinned scheduled reminder per debtor and kind; two clocks planning at once
        # cannot make a second one.
        Index(
            "ux_reminders_planned",
            "debtor_id",
            "kind",
            unique=True,
            postgresql_where=text("status = 'scheduled' AND NOT pinned"),
            sqlite_where=text("status = 'scheduled' AND NOT pinned"),
        ),
        Index("ix_reminders_due", "status", "send_at"),
        Index("ix_reminders_org_status_send", "organisation_id", "status", "send_on"),
        Index("ix_reminders_debtor", "debtor_id", "send_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"))
    kind: Mapped[ReminderKind] = mapped_column(vocabulary(ReminderKind, 10, "kind"), default=ReminderKind.REMINDER)
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("scenarios.id", ondelete="SET NULL"), default=None)
    # The highest step among its invoices: the tone, channel and text of the whole message.
    step_position: Mapped[int] = mapped_column(default=0)
    send_on: Mapped[date] = mapped_column(Date())  # the organisation's local date
    send_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the start of that day's send window
    status: Mapped[ReminderStatus] = mapped_column(
        vocabulary(ReminderStatus, 10, "status"), default=ReminderStatus.SCHEDULED
    )
    # Moved, blocked or edited by the supplier: planning leaves it and its invoices alone.
    pinned: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(500), default="")  # why blocked, skipped or failed
    custom_subject: Mapped[str | None] = mapped_column(String(200), default=None)
    custom_body: Mapped[str | None] = mapped_column(Text(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(40), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(default=0)  # tries the SMTP server turned away before DATA
    mail_message_id: Mapped[int | None] = mapped_column(ForeignKey("mail_messages.id"), default=None)
    # A task for the supplier beside the message (e.g. an invoice mailed without its PDF), until done.
    todo: Mapped[str] = mapped_column(String(300), default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    debtor = relationship("Debtor")
    scenario: Mapped[Scenario | None] = relationship()
    items: Mapped[list["ReminderItem"]] = relationship(
        back_populates="reminder", cascade="all, delete-orphan", order_by="ReminderItem.invoice_id"
    )

    @property
    def step(self) -> Step | None:
        if self.scenario is None:
            return None
        return next((s for s in self.scenario.steps if s.position == self.step_position), None)


class ReminderItem(db.Model):
    """An invoice in a reminder, at its own step. ``dropped`` says why it was left out at send time."""

    __tablename__ = "reminder_items"

    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True, index=True)
    step_position: Mapped[int] = mapped_column()
    open_amount: Mapped[Decimal | None] = mapped_column(Money(), default=None)  # as sent
    dropped: Mapped[str] = mapped_column(String(100), default="")

    reminder: Mapped[Reminder] = relationship(back_populates="items")
    invoice = relationship("Invoice")


class SendDay(db.Model):
    """A calendar planning joins against: for each day, the first day on or after it a reminder may go out (no
    weekend, no public holiday) and the UTC instant its send window opens. One calendar per organisation setting
    (country, business days, timezone, hour), so that planning stays one set of SQL statements."""

    __tablename__ = "send_days"

    calendar: Mapped[str] = mapped_column(String(80), primary_key=True)
    day: Mapped[date] = mapped_column(Date(), primary_key=True)
    send_on: Mapped[date] = mapped_column(Date())
    send_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlanRow(db.Model):
    """Scratch rows of one planning run (empty outside it): each open invoice's next step and its date."""

    __tablename__ = "reminder_plan_rows"
    __table_args__ = (Index("ix_reminder_plan_rows_debtor", "organisation_id", "debtor_id", "kind"),)

    organisation_id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(10))
    scenario_id: Mapped[int | None] = mapped_column()
    step_position: Mapped[int] = mapped_column()
    due_on: Mapped[date] = mapped_column(Date())


class PlanDebtor(db.Model):
    """Scratch rows of one planning run: each debtor's next contact."""

    __tablename__ = "reminder_plan_debtors"

    organisation_id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    scenario_id: Mapped[int | None] = mapped_column()
    step_position: Mapped[int] = mapped_column(default=0)
    send_on: Mapped[date | None] = mapped_column(Date())
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
