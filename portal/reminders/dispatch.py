"""Sending due reminders, each at most once, whatever workers, Redis or the clock do.

The state machine lives in the reminders table: scheduled -> claimed (this worker, until lease_until) -> sending
(committed, with its mail row, just before SMTP) -> sent | failed | unknown. A claim is an UPDATE of rows picked with
FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite every transaction begins IMMEDIATE, so the pick and the UPDATE are
one writer's turn. A claim that outlives its lease goes back to scheduled; a send whose worker died stays unknown
(shown to the supplier, never resent by itself). Every step that needs the claim checks it is still this worker's.
"""

import os
import re
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from email.utils import formataddr, parseaddr

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal import events
from portal.invoices.models import Invoice
from portal.mail import service as mail
from portal.mail.models import MailMessage
from portal.organisations.models import Organisation
from portal.reminders.models import Reminder, ReminderItem
from portal.reminders.render import render
from portal.selfservice.service import create_link
from portal.types import utcnow

LEASE = timedelta(minutes=5)
BATCH = 20
FINAL_MAIL = {"sent": "sent", "outbox": "sent", "failed": "failed", "unknown": "unknown"}


def worker_name() -> str:
    return f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(session: Session, now: datetime, worker: str, limit: int = BATCH, organisation_id: int | None = None):
    """Take up to ``limit`` due reminders for this worker; committed before anything is sent."""
    query = (
        select(Reminder.id)
        .where(Reminder.status == "scheduled", Reminder.send_at <= now)
        .order_by(Reminder.send_at, Reminder.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if organisation_id is not None:
        query = query.where(Reminder.organisation_id == organisation_id)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(Reminder)
            .where(Reminder.id.in_(ids), Reminder.status == "scheduled")
            .values(status="claimed", claimed_by=worker, lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return ids


def release(session: Session, ids: list[int], worker: str) -> int:
    """Give claimed reminders back at once (a worker asked to stop), instead of waiting for their lease."""
    if not ids:
        return 0
    count = session.execute(
        update(Reminder)
        .where(Reminder.id.in_(ids), Reminder.status == "claimed", Reminder.claimed_by == worker)
        .values(status="scheduled", claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return count


def why_not(invoice: Invoice, today: date) -> str:
    """Why an invoice must not be reminded of today, or "" when it may."""
    if invoice.status != "open" or invoice.open_amount <= 0:
        return "paid"
    if invoice.hold_until and invoice.hold_until >= today:
        return f"on hold until {invoice.hold_until.isoformat()}"
    if invoice.promised_on and invoice.promised_on >= today:
        return f"payment promised by {invoice.promised_on.isoformat()}"
    if invoice.disputed_at is not None:
        return "disputed"
    return ""


def recheck(reminder: Reminder, today: date) -> tuple[list[ReminderItem], str, str]:
    """At send time: (the items still to remind of, "" or the status to end in instead, why). Marks dropped items."""
    debtor = reminder.debtor
    if debtor.hold_until and debtor.hold_until >= today:
        dropped = [(item, f"debtor on hold until {debtor.hold_until.isoformat()}") for item in reminder.items]
    else:
        dropped = [(item, why) for item in reminder.items if (why := why_not(item.invoice, today))]
    for item, why in dropped:
        item.dropped = why[:100]
    kept = [item for item in reminder.items if not item.dropped]
    if not kept:
        reasons = sorted({f"{item.invoice.number}: {item.dropped}" for item in reminder.items})
        return [], "skipped", "; ".join(reasons) or "no invoices left"
    if reminder.kind == "reminder" and reminder.step is None:
        return [], "skipped", "its scenario step no longer exists"
    channel = reminder.step.channel if reminder.kind == "reminder" else "email"
    if channel == "email" and not debtor.dunning_email:
        return [], "failed", "the debtor has no e-mail address"
    return kept, "", ""


def take_step(items: list[ReminderItem]) -> None:
    """The invoices move on to the step they were reminded at; the amounts are kept as sent."""
    for item in items:
        item.open_amount = item.invoice.open_amount
        item.invoice.last_step = max(item.invoice.last_step, item.step_position)


def send_one(session: Session, reminder_id: int, worker: str, now: datetime, smtp_url: str, config) -> str:
    """Re-check, render and send one claimed reminder. Returns its new status ("lost": the claim was not ours)."""
    # Locked for this transaction (PostgreSQL; SQLite's IMMEDIATE transaction is a lock already): the sweeper
    # cannot hand the claim to another worker between this check and the commit of 'sending'.
    reminder = session.scalar(
        select(Reminder).where(Reminder.id == reminder_id).with_for_update().execution_options(populate_existing=True)
    )
    if reminder is None or reminder.status != "claimed" or reminder.claimed_by != worker:
        session.rollback()
        return "lost"
    organisation = session.get(Organisation, reminder.organisation_id)
    today = now.astimezone(organisation.tz).date()
    debtor = reminder.debtor
    kept, status, reason = recheck(reminder, today)
    if status:
        return _finish(session, reminder, status, reason, now)
    invoices = [item.invoice for item in kept]
    channel = reminder.step.channel if reminder.kind == "reminder" else "email"
    to_address = debtor.dunning_email
    take_step(kept)  # from here the step counts as taken, even if SMTP fails: nothing is sent twice by itself
    if channel != "email":
        rendered = render(session, organisation, reminder, invoices)
        reminder.todo = rendered.subject[:300]
        return _finish(session, reminder, "todo", "", now)

    link = create_link(session, organisation.id, debtor.id, config["PUBLIC_BASE_URL"], now, reminder.id)
    rendered = render(session, organisation, reminder, invoices, pay_link=link)
    attachments = []
    if reminder.kind == "delivery":
        attachments = [i.document.id for i in invoices if i.document is not None]
        missing = [i.number for i in invoices if i.document is None]
        if missing:
            reminder.todo = f"No PDF stored for {', '.join(missing)}: the mail gave its details; send the PDF yourself"
    message = MailMessage(
        organisation_id=organisation.id,
        template="reminder" if reminder.kind == "reminder" else "invoice",
        to_address=to_address,
        from_address=sender(organisation, config["MAIL_FROM"]),
        subject=rendered.subject[:300],
        body_text=rendered.text,
        body_html=rendered.html,
        # Not "sensitive" (that blanks the whole body): once an SMTP server has it, only the link's token is
        # removed (settle), so that the supplier can still read what was sent.
        status="sending",
        claimed_at=now,
        attempts=1,
        reminder_id=reminder.id,
        message_id=f"<reminder-{reminder.id}@{mail_domain(config['MAIL_FROM'])}>",
        attachment_ids=attachments or None,
    )
    try:
        mail.check_header_safe(message.to_address, message.from_address, message.subject)
    except ValueError as exc:
        session.rollback()
        reminder = session.get(Reminder, reminder_id)
        return _finish(session, reminder, "failed", str(exc), now)
    session.add(message)
    session.flush()
    reminder.status, reminder.mail_message_id = "sending", message.id
    session.commit()  # the send is on record before SMTP hears of it
    mail.transmit(session, message, smtp_url, now)
    return settle(session, message.id)


def _finish(session: Session, reminder: Reminder, status: str, reason: str, now: datetime) -> str:
    reminder.status, reminder.reason = status, reason[:500]
    reminder.claimed_by, reminder.lease_until = None, None
    if status in ("sent", "todo"):
        reminder.sent_at = now
    _record(session, reminder)
    session.commit()
    return status


def _record(session: Session, reminder: Reminder) -> None:
    events.record(
        session,
        reminder.organisation_id,
        f"reminder:{reminder.status}",
        debtor_id=reminder.debtor_id,
        reminder=reminder.id,
        step=reminder.step_position,
        invoices=[item.invoice.number for item in reminder.items if not item.dropped][:20],
        reason=reminder.reason,
    )


_LINK_TOKEN = re.compile(r"(/s/)[A-Za-z0-9_-]{16,}")


def redact_links(body: str) -> str:
    """The self-service token is stored only as a hash: the copy of a delivered mail keeps the link without it."""
    return _LINK_TOKEN.sub(r"\1[link removed after delivery]", body or "")


def settle(session: Session, message_id: int) -> str:
    """Carry a reminder mail's outcome over to its reminder (once); a mail waiting to retry leaves it 'sending'."""
    message = session.get(MailMessage, message_id, populate_existing=True)
    reminder = session.get(Reminder, message.reminder_id, populate_existing=True)
    outcome = FINAL_MAIL.get(message.status)
    if reminder is None:
        return message.status
    if outcome is None:
        if message.last_error and reminder.reason != f"retrying: {message.last_error}"[:500]:
            reminder.reason = f"retrying: {message.last_error}"[:500]
            session.commit()
        return reminder.status
    if reminder.status != "sending":
        return reminder.status
    if message.status == "sent":
        message.body_text = redact_links(message.body_text)
        message.body_html = redact_links(message.body_html)
    reminder.status = outcome
    reminder.reason = "" if outcome == "sent" else message.last_error
    reminder.sent_at = message.sent_at if outcome == "sent" else None
    reminder.claimed_by, reminder.lease_until = None, None
    _record(session, reminder)
    session.commit()
    return outcome


def mail_domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "duly.invalid"


def sender(organisation: Organisation, mail_from: str) -> str:
    """The organisation's name on Duly's sending address (SPF and DKIM are Duly's), unless it set its own."""
    name, address = parseaddr(mail_from)
    if organisation.sender_email:
        address = organisation.sender_email
    return formataddr((organisation.sender_name or organisation.name, address))


def dispatch(
    session: Session,
    *,
    smtp_url: str,
    config,
    now: datetime | None = None,
    worker: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    organisation_id: int | None = None,
) -> Counter:
    """Send everything due by ``now`` (default: the clock, read per batch), batch by batch, until none is left or
    ``stop()`` says so; a stop finishes the reminder being sent and gives the rest of the batch back at once."""
    worker = worker or worker_name()
    counts: Counter = Counter()
    while not stop():
        at = now or utcnow()
        ids = claim(session, at, worker, organisation_id=organisation_id)
        if not ids:
            break
        for position, reminder_id in enumerate(ids):
            if stop():
                release(session, ids[position:], worker)
                break
            counts[send_one(session, reminder_id, worker, now or utcnow(), smtp_url, config)] += 1
    return counts


def sweep(session: Session, now: datetime | None = None) -> int:
    """Lapsed claims back to scheduled; sends whose mail has an outcome settled. Returns how many are due."""
    now = now or utcnow()
    session.execute(
        update(Reminder)
        .where(Reminder.status == "claimed", Reminder.lease_until < now)
        .values(status="scheduled", claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    stale = session.scalars(
        select(MailMessage.id)
        .join(Reminder, Reminder.mail_message_id == MailMessage.id)
        .where(Reminder.status == "sending", MailMessage.status.in_(tuple(FINAL_MAIL)))
    ).all()
    for message_id in stale:
        settle(session, message_id)
    due = session.scalar(
        select(func.count()).select_from(Reminder).where(Reminder.status == "scheduled", Reminder.send_at <= now)
    )
    session.commit()
    return due
