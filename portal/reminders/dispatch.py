"""Sending due reminders, each at most once, whatever workers, Redis or the clock do.

The state machine lives in the reminders table: scheduled -> claimed (this worker, until lease_until) -> sending
(committed, with its mail row, just before SMTP) -> sent | failed | unknown. A claim is an UPDATE of rows picked with
FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite every transaction begins IMMEDIATE, so the pick and the UPDATE are
one writer's turn. A claim that outlives its lease goes back to scheduled; a send whose worker died stays unknown
(shown to the supplier, never resent by itself). Every step that needs the claim checks it is still this worker's.
"""

import os
import signal
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, joinedload, object_session

from portal import events
from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.law.charges import record_charges
from portal.links.models import AccessLink
from portal.links.service import hide_tokens, new_link
from portal.mail import service as mail
from portal.mail.models import MailMessage
from portal.mail.senders import sender
from portal.organisations.models import Organisation
from portal.reminders.models import Reminder, ReminderItem
from portal.reminders.render import Rendered, render
from portal.scenarios.models import Scenario
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


def why_not(invoice: Invoice, today: date, grace_days: int = 0) -> str:
    """Why an invoice must not be reminded of today, or "" when it may. A promise holds until its date plus the
    organisation's grace (``grace_days``) has passed, as in planning."""
    if invoice.status != "open" or invoice.open_amount <= 0:
        return "paid"
    if invoice.hold_until and invoice.hold_until >= today:
        return f"on hold until {invoice.hold_until.isoformat()}"
    if invoice.promised_on and invoice.promised_on + timedelta(days=grace_days) >= today:
        return f"payment promised by {invoice.promised_on.isoformat()}"
    if invoice.disputed_at is not None:
        return "disputed"
    return ""


def recheck(reminder: Reminder, today: date, grace_days: int | None = None) -> tuple[list[ReminderItem], str, str]:
    """At send time: (the items still to remind of, "" or the status to end in instead, why). Marks dropped items.
    ``grace_days`` is the organisation's promise grace; without it, it is read from the reminder's organisation."""
    debtor = reminder.debtor
    if grace_days is None:
        grace_days = object_session(reminder).get(Organisation, reminder.organisation_id).promise_grace_days
    if debtor.hold_until and debtor.hold_until >= today:
        dropped = [(item, f"debtor on hold until {debtor.hold_until.isoformat()}") for item in reminder.items]
    else:
        dropped = [(item, why) for item in reminder.items if (why := why_not(item.invoice, today, grace_days))]
        # Loaded with the reminder when dispatch reads it (undeferred); read per invoice elsewhere (dry run).
        dropped += [(item, "in a payment plan") for item in reminder.items if item.invoice.in_running_plan]
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


def send_one(
    session: Session,
    reminder_id: int,
    worker: str,
    now: datetime,
    connection: mail.Connection,
    config,
    organisations: dict[int, Organisation] | None = None,
) -> str:
    """Re-check, render and send one claimed reminder. Returns its new status ("lost": the claim was not ours).

    Nothing of the send is committed until the SMTP server has accepted sender and recipient: just before DATA one
    conditional UPDATE turns this worker's claim into 'sending', together with the mail row, the link and the
    invoices' new step. A worker that dies before that leaves a claim that lapses and is sent again; one that dies
    after it leaves 'sending', which the sweeper makes 'unknown' and nobody resends by itself.
    """
    reminder = _claimed(session, reminder_id, worker)
    if reminder is None:
        return "lost"
    organisation = _organisation(session, reminder.organisation_id, organisations)
    today = now.astimezone(organisation.tz).date()
    kept, status, reason = recheck(reminder, today, organisation.promise_grace_days)
    if status:
        return _finish(session, reminder, status, reason, now)
    channel = reminder.step.channel if reminder.kind == "reminder" else "email"
    if channel != "email":
        return _to_do(session, organisation, reminder, kept, today, now)

    outgoing = _compose(session, organisation, reminder, kept, today, now, config)
    message = outgoing.message
    try:
        mail.check_header_safe(message.to_address, message.from_address, message.subject)
    except ValueError as exc:
        return _finish(session, reminder, "failed", str(exc), now)
    email = mail.as_email(message, outgoing.documents)
    _note_before_commit(outgoing, organisation, reminder, kept)
    session.commit()  # ends the claim check (and keeps which invoices were left out); nothing is sent yet

    outcome, offered = connection.send(email, lambda: _take_claim(session, reminder_id, worker, outgoing))
    if outcome.status == "lost":
        return "lost"
    if not offered:
        return _not_offered(session, reminder_id, worker, outcome, now)
    return _record_send(session, reminder_id, outgoing.message_id, outcome, now, outgoing.rendered, outgoing.about)


@dataclass
class _Outgoing:
    """A reminder mail made ready to offer to the SMTP server: what goes on record with the send, and what its
    outcome is recorded with. The values read from the database are read before the commit that ends the claim
    check, so that nothing is read back from it after."""

    message: MailMessage
    link: AccessLink
    rendered: Rendered
    invoices: list[Invoice]
    documents: list  # the invoices' stored PDFs, attached to a delivery
    missing: list[str]  # the numbers of delivered invoices with no PDF stored
    steps: list[tuple] = field(default_factory=list)  # (invoice id, step position, open amount) per kept item
    todo: str = ""
    about: tuple = ()  # (organisation, debtor, step, invoice numbers), for the timeline
    message_id: int | None = None  # the mail row's id, once flushed


def _claimed(session: Session, reminder_id: int, worker: str) -> Reminder | None:
    """The reminder, locked, with everything the checks and the text need; None (rolled back) when the claim is
    not this worker's any more."""
    reminder = (
        session.scalars(
            select(Reminder)
            .where(Reminder.id == reminder_id)
            .with_for_update(of=Reminder)
            # Everything the checks and the text need, in a few queries rather than a lazy load each.
            .options(  # one round trip: the rows of a reminder are few
                joinedload(Reminder.debtor).joinedload(Debtor.contacts),
                joinedload(Reminder.items).joinedload(ReminderItem.invoice).undefer(Invoice.in_running_plan),
                joinedload(Reminder.scenario).joinedload(Scenario.steps),
            )
            .execution_options(populate_existing=True)
        )
        .unique()
        .first()
    )
    if reminder is None or reminder.status != "claimed" or reminder.claimed_by != worker:
        session.rollback()
        return None
    return reminder


def _to_do(
    session: Session, organisation: Organisation, reminder: Reminder, kept: list[ReminderItem], today: date, now
) -> str:
    """A step on another channel than e-mail (a call, a letter) becomes a task for the supplier: its subject is
    what to do, and the invoices move on as if it were sent."""
    take_step(kept)
    invoices = [item.invoice for item in kept]
    rendered = render(session, organisation, reminder, invoices, on=today)
    reminder.todo = rendered.subject[:300]
    record_charges(session, organisation.id, reminder.debtor.id, rendered.charges, invoices, reminder_id=reminder.id)
    return _finish(session, reminder, "todo", "", now)


def _compose(
    session: Session,
    organisation: Organisation,
    reminder: Reminder,
    kept: list[ReminderItem],
    today: date,
    now: datetime,
    config,
) -> _Outgoing:
    """The mail for the kept invoices, with a new self-service link in it (neither stored yet)."""
    debtor = reminder.debtor
    invoices = [item.invoice for item in kept]
    url, link = new_link(
        organisation.id,
        debtor.id,
        config["PUBLIC_BASE_URL"],
        now,
        reminder.id,
        lifetime=timedelta(days=organisation.link_lifetime_days),
    )
    rendered = render(session, organisation, reminder, invoices, pay_link=url, on=today)
    documents = [i.document for i in invoices if i.document is not None] if reminder.kind == "delivery" else []
    for document in documents:
        _ = document.content  # deferred column: loaded now, before the transaction ends
    missing = [i.number for i in invoices if i.document is None] if reminder.kind == "delivery" else []
    message = MailMessage(
        organisation_id=organisation.id,
        template="reminder" if reminder.kind == "reminder" else "invoice",
        to_address=debtor.dunning_email,
        from_address=sender(organisation, config["MAIL_FROM"]),
        subject=rendered.subject[:300],
        body_text=rendered.text,
        body_html=rendered.html,
        inline_qr=rendered.qr,
        # Not "sensitive" (that blanks the whole body): once an SMTP server has it, only the link's token is
        # removed (settle), so that the supplier can still read what was sent.
        status="sending",
        claimed_at=now,
        attempts=1,
        reminder_id=reminder.id,
        message_id=f"<reminder-{reminder.id}@{mail_domain(config['MAIL_FROM'])}>",
        attachment_ids=[d.id for d in documents] or None,
    )
    return _Outgoing(message, link, rendered, invoices, documents, missing)


def _note_before_commit(
    outgoing: _Outgoing, organisation: Organisation, reminder: Reminder, kept: list[ReminderItem]
) -> None:
    """What the send records, read while the rows are loaded: the commit that ends the claim check expires them."""
    outgoing.steps = [(item.invoice_id, item.step_position, item.invoice.open_amount) for item in kept]
    missing = outgoing.missing
    outgoing.todo = (
        f"No PDF stored for {', '.join(missing)}: the mail gave its details; send the PDF yourself" if missing else ""
    )
    numbers = [i.number for i in outgoing.invoices]
    outgoing.about = (organisation.id, reminder.debtor.id, reminder.step_position, numbers)


def _take_claim(session: Session, reminder_id: int, worker: str, outgoing: _Outgoing) -> bool:
    """Just before DATA: the send on record (mail row, link, the invoices' new step and charges), committed, if the
    claim is still this worker's; False, with nothing written, if it is not."""
    message = outgoing.message
    session.add_all([message, outgoing.link])
    session.flush()
    outgoing.message_id = message.id  # read now: after the commit it would be read back from the database
    # Only this UPDATE turns the claim into a send: if the lease lapsed and another worker claimed it, it
    # matches nothing, and the rollback takes the mail row and the link with it.
    taken = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == "claimed", Reminder.claimed_by == worker)
        .values(status="sending", mail_message_id=message.id, todo=outgoing.todo)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        session.rollback()
        return False
    _record_steps(session, reminder_id, outgoing.steps)
    if outgoing.rendered.charges.changes:  # costs and interest the step adds are on record with the send
        organisation_id, debtor_id = outgoing.about[:2]
        record_charges(
            session, organisation_id, debtor_id, outgoing.rendered.charges, outgoing.invoices, reminder_id=reminder_id
        )
    session.commit()  # the send is on record before the server is offered the message
    return True


def _record_steps(session: Session, reminder_id: int, steps: list[tuple]) -> None:
    """The amounts as sent on the reminder's items, and the invoices on to the step they were reminded at."""
    items, invoices_table = ReminderItem.__table__, Invoice.__table__
    session.execute(  # one executemany each, however many invoices
        update(items)
        .where(items.c.reminder_id == reminder_id, items.c.invoice_id == bindparam("b_invoice"))
        .values(open_amount=bindparam("b_amount")),
        [{"b_invoice": invoice_id, "b_amount": amount} for invoice_id, _, amount in steps],
    )
    session.execute(
        update(invoices_table)
        .where(invoices_table.c.id == bindparam("b_invoice"), invoices_table.c.last_step < bindparam("b_step"))
        .values(last_step=bindparam("b_step")),
        [{"b_invoice": invoice_id, "b_step": step} for invoice_id, step, _ in steps],
    )


def _record_send(session: Session, reminder_id: int, message_id: int, outcome, now: datetime, rendered, about) -> str:
    """The mail's outcome, and the reminder's when the outcome is final, in one commit: what settle() does, from
    what this worker holds in memory instead of reading it all back."""
    message = MailMessage(status="sending", attempts=1, last_error="", body_text=rendered.text, body_html=rendered.html)
    mail.record_outcome(message, outcome, now)
    values = {"status": message.status, "last_error": message.last_error, "next_attempt_at": message.next_attempt_at}
    if message.status in ("sent", "outbox"):
        values["sent_at"] = now
    if message.status == "sent":
        values["body_text"], values["body_html"] = redact_links(rendered.text), redact_links(rendered.html)
    session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    final = FINAL_MAIL.get(message.status)
    if final is None:  # a temporary refusal at DATA: the outbox retries it, settle() finishes the reminder then
        session.execute(
            update(Reminder)
            .where(Reminder.id == reminder_id)
            .values(reason=f"retrying: {message.last_error}"[:500])
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return "sending"
    reason = "" if final == "sent" else message.last_error
    taken = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == "sending")
        .values(
            status=final,
            reason=reason,
            sent_at=now if final == "sent" else None,
            claimed_by=None,
            lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken:
        _record_event(session, reminder_id, final, reason, about)
    session.commit()
    return final


def _organisation(session: Session, organisation_id: int, cache: dict[int, Organisation] | None) -> Organisation:
    """The organisation, read once per dispatch run (detached, so that commits do not make it read again)."""
    if cache is None:
        return session.get(Organisation, organisation_id)
    if organisation_id not in cache:
        organisation = session.get(Organisation, organisation_id)
        session.expunge(organisation)
        cache[organisation_id] = organisation
    return cache[organisation_id]


def _not_offered(session: Session, reminder_id: int, worker: str, outcome: mail.Outcome, now: datetime) -> str:
    """The server refused or could not be reached before DATA: nothing was sent and nothing was committed. A
    temporary trouble puts the reminder back with a back-off; a refusal fails it, to be shown."""
    reminder = session.scalar(select(Reminder).where(Reminder.id == reminder_id).with_for_update())
    if reminder.status != "claimed" or reminder.claimed_by != worker:
        session.rollback()
        return "lost"
    reminder.attempts += 1
    error = f"{outcome.code} {outcome.error}"
    if outcome.status == "temporary" and reminder.attempts < mail.MAX_ATTEMPTS:
        reminder.status, reminder.reason = "scheduled", f"retrying: {error}"[:500]
        reminder.send_at = now + mail.backoff(reminder.attempts)
        reminder.claimed_by, reminder.lease_until = None, None
        session.commit()
        return "retrying"
    return _finish(session, reminder, "failed", error, now)


def _finish(session: Session, reminder: Reminder, status: str, reason: str, now: datetime) -> str:
    reminder.status, reminder.reason = status, reason[:500]
    reminder.claimed_by, reminder.lease_until = None, None
    if status in ("sent", "todo"):
        reminder.sent_at = now
    _record(session, reminder)
    session.commit()
    return status


def _record(session: Session, reminder: Reminder) -> None:
    numbers = [item.invoice.number for item in reminder.items if not item.dropped]
    about = (reminder.organisation_id, reminder.debtor_id, reminder.step_position, numbers)
    _record_event(session, reminder.id, reminder.status, reminder.reason, about)


def _record_event(session: Session, reminder_id: int, status: str, reason: str, about: tuple) -> None:
    """The timeline's line for a reminder's outcome; ``about`` is (organisation, debtor, step, invoice numbers)."""
    organisation_id, debtor_id, step, numbers = about
    events.record(
        session,
        organisation_id,
        f"reminder:{status}",
        debtor_id=debtor_id,
        reminder=reminder_id,
        step=step,
        invoices=", ".join(numbers)[:300],
        reason=reason,
    )


def redact_links(body: str) -> str:
    """The self-service token is stored only as a hash: the copy of a delivered mail keeps the link without it."""
    return hide_tokens(body, "[link removed after delivery]")


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
    organisations: dict[int, Organisation] = {}
    with mail.Connection(smtp_url) as connection:  # one SMTP connection for the whole run
        while not stop():
            ids = claim(session, now or utcnow(), worker, organisation_id=organisation_id)
            if not ids:
                break
            for position, reminder_id in enumerate(ids):
                if stop():
                    release(session, ids[position:], worker)
                    break
                try:
                    sent = send_one(session, reminder_id, worker, now or utcnow(), connection, config, organisations)
                    counts[sent] += 1
                except BaseException:
                    # The database went away, or the process is told to stop hard: what this worker still holds
                    # goes back when its lease lapses; what it was sending is settled by the sweeper.
                    session.rollback()
                    raise
    return counts


@contextmanager
def stop_on_sigterm() -> Iterator[Callable[[], bool]]:
    """A ``stop`` for dispatch(): true once SIGTERM (or Ctrl-C) came, so that the reminder being sent is finished
    and the rest of the batch is given back at once. Outside the main thread signals cannot be caught: never true."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping.is_set
        return
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
