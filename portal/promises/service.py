"""Promises to pay and "I have already paid": what a debtor says about paying, and what becomes of it.

A promise pauses the reminders about its invoices until its date (plus the organisation's grace); the clock settles
it: kept once everything is paid, broken when the date has passed with something open (the scenario resumes, and it
counts in the debtor's payment behaviour). A paid claim pauses them while the supplier looks for the money. Messages
of a PromiseError are read by the debtor, in the page's language, so they are lazy.
"""

from datetime import date, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from portal import events
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.invoices.service import chosen_open_invoices
from portal.locales import lazy as _l
from portal.money import ZERO
from portal.organisations.models import Organisation
from portal.promises.models import PaidClaim, Promise, paid_claim_invoices
from portal.text import MAX_MESSAGE, clean
from portal.types import utcnow

# The hold reason "I have already paid" leaves on an invoice, for people to read (the claim itself: PaidClaim).
PAID_CLAIM_REASON = "Paid, the debtor says"


class PromiseError(DomainError):
    """A promise or a paid claim the debtor cannot make as asked; ``field`` names the form field."""


def _amounts(invoices: list[Invoice]) -> dict:
    """Event data for what the invoices still have open: an amount only when they share one currency."""
    currencies = {i.currency for i in invoices}
    if len(currencies) != 1:
        return {}
    return {"amount": sum((i.open_amount for i in invoices), ZERO), "currency": currencies.pop()}


def _about(invoices: list[Invoice]) -> dict:
    """Which invoices an event is about: numbers to read, ids for the cockpit's queues."""
    return {
        "invoices": ", ".join(i.number for i in invoices)[:300],
        "invoice_ids": ",".join(str(i.id) for i in invoices),
    }


def promise(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids,
    promised_on: date,
    today: date,
    note: str = "",
    *,
    source: str = "selfservice",
    actor_user_id: int | None = None,
) -> Promise:
    """The debtor promises to pay these invoices by ``promised_on``: reminders about them wait until that date
    plus the organisation's grace. An invoice already promised moves to the new promise; an earlier open promise
    left with nothing open is withdrawn (replaced)."""
    if promised_on is None:
        raise PromiseError(_l("Choose the date you will pay on."), "promised_on")
    if promised_on < today:
        raise PromiseError(_l("That date has passed. Choose today or a later date."), "promised_on")
    latest = today + timedelta(days=organisation.promise_max_days)
    if promised_on > latest:
        raise PromiseError(
            _l(
                "You can promise a date up to %(days)d days ahead: %(date)s at the latest.",
                days=organisation.promise_max_days,
                date=latest,
            ),
            "promised_on",
        )
    invoices = chosen_open_invoices(session, organisation.id, debtor.id, invoice_ids)
    earlier = {i.promise_id for i in invoices if i.promise_id is not None}
    new = Promise(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        promised_on=promised_on,
        status="open",
        source=source,
        note=clean(note, 500),
    )
    session.add(new)
    session.flush()
    for invoice in invoices:
        invoice.promise_id, invoice.promised_on = new.id, promised_on
    session.flush()
    events.record(
        session,
        organisation.id,
        EventKind.PROMISE_MADE,
        debtor_id=debtor.id,
        invoice_id=invoices[0].id if len(invoices) == 1 else None,
        actor_user_id=actor_user_id,
        promise=new.id,
        promised_on=promised_on.isoformat(),
        note=new.note,
        source=source,
        **_about(invoices),
        **_amounts(invoices),
    )
    for promise_id in sorted(earlier):
        still_open = session.scalar(
            select(func.count()).where(Invoice.promise_id == promise_id, Invoice.status == "open")
        )
        if not still_open and _close_promise(session, promise_id, "withdrawn"):
            events.record(
                session,
                organisation.id,
                EventKind.PROMISE_WITHDRAWN,
                debtor_id=debtor.id,
                actor_user_id=actor_user_id,
                promise=promise_id,
                replaced_by=new.id,
            )
    return new


def _close_promise(session: Session, promise_id: int, status: str) -> bool:
    """open -> kept | broken | withdrawn, once: two clocks checking at the same time record one outcome."""
    closed = session.execute(
        update(Promise)
        .where(Promise.id == promise_id, Promise.status == "open")
        .values(status=status, resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(session.get(Promise, promise_id), ["status", "resolved_at"])
    return closed == 1


def check_promises(session: Session, organisation_id: int, today: date) -> dict[str, int]:
    """Settle the organisation's open promises as of ``today``: kept once all their invoices are paid; broken when
    the date plus the grace has passed with something still open. A broken promise frees its invoices, so their
    scenario resumes at the next planning; it counts in the debtor's payment behaviour. The caller commits."""
    grace = session.scalar(select(Organisation.promise_grace_days).where(Organisation.id == organisation_id))
    counts = {"kept": 0, "broken": 0}
    promises = session.scalars(
        select(Promise)
        .where(Promise.organisation_id == organisation_id, Promise.status == "open")
        .options(selectinload(Promise.invoices))
        .order_by(Promise.id)
    ).all()
    for candidate in promises:
        invoices = list(candidate.invoices)
        still_open = [i for i in invoices if i.status == "open"]
        if not still_open:
            status = "kept"
        elif candidate.promised_on + timedelta(days=grace) < today:
            status = "broken"
        else:
            continue
        if not _close_promise(session, candidate.id, status):
            continue
        if status == "broken":
            for invoice in still_open:
                invoice.promised_on = None  # the scenario resumes; promise_id stays, to show what was promised
        events.record(
            session,
            organisation_id,
            f"promise:{status}",
            debtor_id=candidate.debtor_id,
            invoice_id=invoices[0].id if len(invoices) == 1 else None,
            promise=candidate.id,
            promised_on=candidate.promised_on.isoformat(),
            **_about(still_open or invoices),
            **(_amounts(still_open) if still_open else {}),
        )
        counts[status] += 1
    return counts


def claim_paid(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids,
    today: date,
    paid_on: date | None = None,
    comment: str = "",
) -> PaidClaim:
    """The debtor says these invoices were paid ("I have already paid"): their reminders pause for the
    organisation's paid_claim_hold_days while the supplier looks for the money; the claim shows in the cockpit.
    A longer hold the supplier set on an invoice stays (and the claim does not hold that invoice)."""
    if paid_on is not None and paid_on > today:
        raise PromiseError(_l("That date is still to come. When did you pay?"), "paid_on")
    invoices = chosen_open_invoices(session, organisation.id, debtor.id, invoice_ids)
    until = today + timedelta(days=organisation.paid_claim_hold_days)
    claim = PaidClaim(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        paid_on=paid_on,
        comment=clean(comment, MAX_MESSAGE),
        until=until,
    )
    session.add(claim)
    session.flush()
    session.execute(insert(paid_claim_invoices), [{"paid_claim_id": claim.id, "invoice_id": i.id} for i in invoices])
    reason = PAID_CLAIM_REASON + (f" (on {paid_on.isoformat()})" if paid_on else "")
    for invoice in invoices:
        if invoice.hold_until is None or invoice.hold_until < until:
            invoice.hold_until, invoice.hold_reason, invoice.paid_claim_id = until, reason, claim.id
    events.record(
        session,
        organisation.id,
        EventKind.INVOICE_PAID_CLAIMED,
        debtor_id=debtor.id,
        invoice_id=invoices[0].id if len(invoices) == 1 else None,
        paid_on=paid_on.isoformat() if paid_on else None,
        comment=claim.comment,
        until=until.isoformat(),
        claim=claim.id,
        **_about(invoices),
        **_amounts(invoices),
    )
    return claim
