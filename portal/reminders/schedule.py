"""What the supplier does to the schedule: move, block, unblock, edit one reminder, send now, holds, tasks done.

A moved, blocked or edited reminder is pinned: planning leaves it and its invoices alone from then on. Each action
takes the reminder only in a state it can change (a reminder a worker has claimed cannot be moved any more), and
says so otherwise.
"""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.organisations.calendar import first_day, send_days, window_opens
from portal.organisations.models import Organisation
from portal.reminders.models import Reminder
from portal.scenarios.texts import check_text
from portal.types import utcnow


class ScheduleError(DomainError):
    """An action that cannot be done now; the message says why, for the supplier."""


def _get(session: Session, organisation_id: int, reminder_id: int, *statuses: str) -> Reminder:
    reminder = session.scalar(
        select(Reminder)
        .where(Reminder.id == reminder_id, Reminder.organisation_id == organisation_id)
        .with_for_update()
    )
    if reminder is None:
        raise ScheduleError("No such reminder.")
    if statuses and reminder.status not in statuses:
        raise ScheduleError(f"This reminder is {reminder.status} and can no longer be changed.")
    return reminder


def _record(session, reminder: Reminder, kind: str, actor_user_id: int | None, **data) -> None:
    events.record(
        session,
        reminder.organisation_id,
        kind,
        debtor_id=reminder.debtor_id,
        actor_user_id=actor_user_id,
        reminder=reminder.id,
        **data,
    )


def move(session: Session, organisation_id: int, reminder_id: int, day: date, *, actor_user_id: int) -> Reminder:
    """Move to another day (pinned). If the debtor already has a reminder waiting on that day, the two become one."""
    organisation = session.get(Organisation, organisation_id)
    earliest = first_day(organisation)
    if day < earliest:
        raise ScheduleError(
            "Choose today or a later date."
            if day < organisation.today()
            else f"Today's sending hours are over; choose {earliest.isoformat()} or later."
        )
    [(_, sendable, _)] = send_days(organisation, day, day)
    if sendable != day:
        raise ScheduleError(
            f"{day.isoformat()} is a weekend day or public holiday, when reminders do not go out; "
            f"the next day they do is {sendable.isoformat()}."
        )
    reminder = _get(session, organisation_id, reminder_id, "scheduled", "blocked")
    other = session.scalar(
        select(Reminder).where(
            Reminder.debtor_id == reminder.debtor_id,
            Reminder.kind == reminder.kind,
            Reminder.send_on == day,
            Reminder.status.in_(("scheduled", "blocked")),
            Reminder.id != reminder.id,
        )
    )
    if other is not None:
        mine = {item.invoice_id for item in reminder.items}
        for item in list(other.items):
            if item.invoice_id not in mine:
                other.items.remove(item)
                item.reminder_id = reminder.id
                reminder.items.append(item)
        reminder.step_position = max(reminder.step_position, other.step_position)
        _record(session, other, EventKind.REMINDER_MERGED, actor_user_id, into=reminder.id)
        session.delete(other)
        session.flush()
    reminder.send_on, reminder.send_at, reminder.pinned = day, window_opens(organisation, day), True
    _record(session, reminder, EventKind.REMINDER_MOVED, actor_user_id, to=day.isoformat(), merged=other is not None)
    return reminder


def block(session: Session, organisation_id: int, reminder_id: int, reason: str, *, actor_user_id: int) -> Reminder:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ScheduleError("Say why the reminder is blocked.")
    reminder = _get(session, organisation_id, reminder_id, "scheduled")
    reminder.status, reminder.reason, reminder.pinned = "blocked", reason[:500], True
    _record(session, reminder, EventKind.REMINDER_BLOCKED, actor_user_id, reason=reason[:200])
    return reminder


def unblock(session: Session, organisation_id: int, reminder_id: int, *, actor_user_id: int) -> Reminder:
    """Back to scheduled, still pinned; a date in the past becomes today."""
    organisation = session.get(Organisation, organisation_id)
    reminder = _get(session, organisation_id, reminder_id, "blocked")
    reminder.status, reminder.reason = "scheduled", ""
    if reminder.send_on < organisation.today():
        reminder.send_on = organisation.today()
        reminder.send_at = window_opens(organisation, reminder.send_on)
    _record(session, reminder, EventKind.REMINDER_UNBLOCKED, actor_user_id)
    return reminder


def edit(
    session: Session, organisation_id: int, reminder_id: int, subject: str, body: str, *, actor_user_id: int
) -> Reminder:
    """This one reminder's own text (placeholders as in scenarios); pinned."""
    problems = {}
    if "\n" in subject or "\r" in subject:
        problems["subject"] = ["A subject is one line."]
    for name, value in (("subject", subject), ("body", body)):
        if found := check_text(value):
            problems.setdefault(name, []).extend(found)
    if not subject.strip() or not body.strip():
        problems.setdefault("body" if subject.strip() else "subject", []).append("This is required.")
    if problems:
        error = ScheduleError("The text has problems.")
        error.errors = problems
        raise error
    reminder = _get(session, organisation_id, reminder_id, "scheduled", "blocked")
    reminder.custom_subject, reminder.custom_body, reminder.pinned = subject, body, True
    _record(session, reminder, EventKind.REMINDER_EDITED, actor_user_id)
    return reminder


def send_now(session: Session, organisation_id: int, reminder_id: int, *, actor_user_id: int) -> Reminder:
    """Due at once. The dispatcher's claim decides who sends it: racing the scheduler, it still goes out once."""
    organisation = session.get(Organisation, organisation_id)
    reminder = _get(session, organisation_id, reminder_id, "scheduled", "blocked")
    now = utcnow()
    reminder.status, reminder.reason, reminder.pinned = "scheduled", "", True
    reminder.send_on, reminder.send_at = now.astimezone(organisation.tz).date(), now
    _record(session, reminder, EventKind.REMINDER_SEND_NOW, actor_user_id)
    return reminder


def mark_done(session: Session, organisation_id: int, reminder_id: int, *, actor_user_id: int) -> Reminder:
    """A call made or a task done."""
    reminder = _get(session, organisation_id, reminder_id)
    if reminder.status == "todo":
        reminder.status = "done"
    elif not reminder.todo or reminder.done_at is not None:
        raise ScheduleError("There is nothing to do for this reminder.")
    reminder.done_at = utcnow()
    _record(session, reminder, EventKind.REMINDER_DONE, actor_user_id)
    return reminder


def set_hold(
    session: Session,
    organisation_id: int,
    *,
    until: date | None,
    reason: str = "",
    debtor_id: int | None = None,
    invoice_id: int | None = None,
    actor_user_id: int,
) -> None:
    """No reminders for the debtor or invoice up to and including ``until``; None lifts the hold. Reminders already
    waiting are skipped at send time, and planning leaves them out from the next run."""
    model, object_id = (Debtor, debtor_id) if debtor_id is not None else (Invoice, invoice_id)
    target = session.scalar(select(model).where(model.id == object_id, model.organisation_id == organisation_id))
    if target is None:
        raise ScheduleError("No such debtor or invoice.")
    if until is not None and until < session.get(Organisation, organisation_id).today():
        raise ScheduleError("A hold ends today or later.")
    reason = " ".join((reason or "").split())[:300]
    target.hold_until, target.hold_reason = until, reason if until else ""
    if model is Invoice:
        target.paid_claim_id = None  # the supplier's hold (or none) replaces what the debtor's word held
    events.record(
        session,
        organisation_id,
        EventKind.HOLD_SET if until else EventKind.HOLD_LIFTED,
        debtor_id=target.id if model is Debtor else target.debtor_id,
        invoice_id=target.id if model is Invoice else None,
        actor_user_id=actor_user_id,
        until=until.isoformat() if until else None,
        reason=reason,
    )
