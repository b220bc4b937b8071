"""The dry run: every message the next N days would send, worked out by the real planning and send-time checks
inside a savepoint that is rolled back. Nothing is sent, nothing is kept."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from babel.numbers import format_currency
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.organisations.calendar import first_day
from portal.organisations.models import Organisation
from portal.reminders.dispatch import recheck, take_step
from portal.reminders.models import Reminder, ReminderItem
from portal.reminders.planning import plan
from portal.reminders.render import render

MAX_DAYS = 60


@dataclass
class DryMessage:
    send_on: date
    reminder_id: int
    debtor_id: int
    debtor_name: str
    to: str
    kind: str
    channel: str
    tone: str
    step: int
    subject: str
    text: str
    invoices: list[str] = field(default_factory=list)
    totals: str = ""

    def line(self) -> str:
        return (
            f"{self.send_on.isoformat()}  {self.channel:<5} {self.tone:<8} step {self.step}  {self.debtor_name} "
            f"<{self.to or '-'}>  {', '.join(self.invoices)}  {self.totals}  \u201c{self.subject}\u201d"
        )


def dry_run(session: Session, organisation_id: int, days: int, today: date | None = None) -> list[DryMessage]:
    organisation = session.get(Organisation, organisation_id)
    # As planning does: once today's sending hours are over, the first day is tomorrow.
    today = today or first_day(organisation)
    days = max(1, min(days, MAX_DAYS))
    messages: list[DryMessage] = []
    savepoint = session.begin_nested()
    try:
        for offset in range(days):
            day = today + timedelta(days=offset)
            plan(session, organisation_id, today=day, first=day)
            due = session.scalars(
                select(Reminder)
                .where(
                    Reminder.organisation_id == organisation_id,
                    Reminder.status == "scheduled",
                    Reminder.send_on <= day,
                )
                .order_by(Reminder.send_on, Reminder.id)
            ).all()
            for reminder in due:
                kept, status, _ = recheck(reminder, day)
                if status:
                    reminder.status = status
                    continue
                messages.append(_message(session, organisation, reminder, kept, day))
                take_step(kept)
                reminder.status = "sent"
            session.flush()
    finally:
        savepoint.rollback()
        session.expire_all()
    return messages


def _message(
    session: Session, organisation: Organisation, reminder: Reminder, kept: list[ReminderItem], day: date
) -> DryMessage:
    """The message the reminder would send on ``day``, about the invoices the send-time checks kept."""
    invoices = [item.invoice for item in kept]
    rendered = render(session, organisation, reminder, invoices, on=day)
    totals: dict[str, object] = {}
    for invoice in invoices:  # what the message claims: with interest to that day and costs
        totals[invoice.currency] = totals.get(invoice.currency, 0) + rendered.owed[invoice.id].total
    return DryMessage(
        send_on=day,
        reminder_id=reminder.id,
        debtor_id=reminder.debtor_id,
        debtor_name=reminder.debtor.name,
        to=reminder.debtor.dunning_email if rendered.channel == "email" else "",
        kind=reminder.kind,
        channel=rendered.channel,
        tone=rendered.tone,
        step=reminder.step_position,
        subject=rendered.subject,
        text=rendered.text,
        invoices=[i.number for i in invoices],
        totals=", ".join(
            format_currency(amount, currency, locale=organisation.locale) for currency, amount in totals.items()
        ),
    )
