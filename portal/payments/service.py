"""Paying through Mollie: starting a payment for the invoices a debtor chose, and booking what Mollie says.

Mollie is called between transactions, never inside one: a slow API must not hold row locks (or SQLite's write
lock). Everything Mollie says is applied under a lock on our row and only ever moves forward, so webhooks may come
any number of times, at once, and in any order: the payment is booked once, as Mollie finally has it.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import requests
from flask import current_app
from flask_babel import gettext
from mollie.api.client import Client
from mollie.api.error import Error as MollieError
from mollie.api.error import NotFoundError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import events
from portal.arrangements.models import Installment
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.ledger import service as ledger
from portal.ledger.models import Payment
from portal.locales import in_debtor_language
from portal.mail.senders import sender
from portal.mail.service import queue_mail
from portal.money import ZERO
from portal.organisations.models import Organisation
from portal.payments.models import UNFINISHED, MolliePayment, MolliePaymentItem
from portal.types import utcnow

# Mollie takes money back (a refund, a chargeback) up to 180 days after a payment. If every webhook about it is lost,
# only asking finds it: each booked payment of that window is fetched again about once a day, a bounded number per
# reconciliation run (every 5 minutes: 288 runs a day), the longest unasked first.
RECHECK_WINDOW = timedelta(days=180)
RECHECK_EVERY = timedelta(days=1)
RECHECK_PER_RUN = 100

# Later states never give way to earlier ones: a slow webhook that read "open" cannot undo a "paid".
RANK = {"creating": 0, "open": 1, "pending": 2, "authorized": 3, "paid": 4, "failed": 4, "canceled": 4, "expired": 4}


class PaymentError(DomainError):
    """Something the debtor asked for that cannot be paid online; the message can be shown to them."""


class MollieUnavailable(PaymentError):
    """Mollie did not answer or refused; nothing was booked and the debtor can try again."""


def client_for(organisation: Organisation, endpoint: str) -> Client:
    if not organisation.mollie_api_key:
        raise PaymentError("online payment is not available")
    # Short timeouts: a debtor is waiting, and a webhook handler must answer Mollie quickly.
    client = Client(api_endpoint=endpoint, timeout=(3, 10), retry=2)
    client.set_api_key(organisation.mollie_api_key)
    return client


def _value(amount: Decimal) -> str:
    return f"{amount:.2f}"


def request_key(debtor_id: int, portions: list[tuple[Invoice, Decimal]]) -> str:
    """The same debtor paying the same amounts on the same invoices is the same request."""
    parts = [str(debtor_id)] + [f"{i.id}:{amount}" for i, amount in sorted(portions, key=lambda p: p[0].id)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def payable(session: Session, organisation: Organisation, debtor: Debtor, invoice_ids: list[int]) -> list[Invoice]:
    """The debtor's open invoices among those ids, all in one currency; anything else is refused."""
    if not invoice_ids:
        raise PaymentError("choose at least one invoice")
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.id.in_(set(invoice_ids)),
            Invoice.organisation_id == organisation.id,
            Invoice.debtor_id == debtor.id,
            Invoice.kind == "invoice",
        )
    ).all()
    if len(invoices) != len(set(invoice_ids)):
        raise LookupError("not this debtor's invoice")
    invoices = [i for i in invoices if i.status == "open" and i.open_amount > ZERO]
    if not invoices:
        raise PaymentError("these invoices have been paid already")
    if len({i.currency for i in invoices}) > 1:
        raise PaymentError("invoices in different currencies are paid separately")
    return sorted(invoices, key=lambda i: (i.due_date or i.issue_date, i.id))


@dataclass
class Urls:
    """Where Mollie sends the debtor back and where it rings: built from PUBLIC_BASE_URL by the caller."""

    base: str
    redirect_path: str  # with "{id}" for our payment's id
    webhook_path: str


def start(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids: list[int],
    *,
    urls: Urls,
    endpoint: str,
    locale: str,
    amounts: dict[int, Decimal] | None = None,
    installment=None,
) -> MolliePayment:
    """A Mollie payment for the chosen invoices, with its checkout URL. A second click reuses the first's.

    Whole open amounts, unless ``amounts`` says how much of each invoice (an installment of a payment plan,
    ``installment``, spreads its amount over the plan's invoices).

    Our row is committed first and its id is the Idempotency-Key, so a retry after a lost answer, or a double
    click while the first is still waiting for Mollie, gets the same payment back from Mollie, never a second.
    """
    invoices = payable(session, organisation, debtor, invoice_ids)
    due = ledger.due_now(session, invoices, organisation.today())  # with costs and interest, where owed
    portions = [(i, min(due[i.id], amounts.get(i.id, ZERO)) if amounts else due[i.id]) for i in invoices]
    portions = [(i, amount) for i, amount in portions if amount > ZERO]
    if not portions:
        raise PaymentError("these invoices have been paid already")
    key = request_key(debtor.id, portions)
    client = client_for(organisation, endpoint)
    mp = _unfinished(session, organisation.id, key)
    if mp is not None and mp.mollie_id:
        # Still payable at Mollie? Then the debtor goes back to the same checkout.
        session.commit()
        sync(session, mp.mollie_id, endpoint=endpoint)
        session.refresh(mp)
        if mp.status == "open" and mp.checkout_url:
            return mp
        mp = None
    if mp is None:
        mp = _new_row(session, organisation, debtor, portions, key, installment)
    mp_id = mp.id
    data = _create_request(organisation, debtor, mp, urls, locale)
    session.commit()  # the row exists before Mollie is asked; Mollie is asked outside any transaction
    try:
        remote = client.payments.create(data, idempotency_key=f"duly-payment-{mp_id}")
    except (MollieError, requests.RequestException) as exc:
        mp = session.get(MolliePayment, mp_id)
        if mp.status == "creating":
            mp.status, mp.flag, mp.updated_at = "failed", f"Mollie refused or did not answer: {exc}"[:300], utcnow()
            session.commit()
        raise MollieUnavailable("online payment is not available right now") from exc
    mp = session.get(MolliePayment, mp_id)
    _apply(session, mp, dict(remote))
    session.commit()
    return mp


def _unfinished(session: Session, organisation_id: int, key: str) -> MolliePayment | None:
    return session.scalar(
        select(MolliePayment).where(
            MolliePayment.organisation_id == organisation_id,
            MolliePayment.request_key == key,
            MolliePayment.status.in_(UNFINISHED),
        )
    )


def _new_row(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    portions: list[tuple[Invoice, Decimal]],
    key: str,
    installment=None,
) -> MolliePayment:
    total = sum((amount for _, amount in portions), ZERO)
    numbers = ", ".join(i.number for i, _ in portions)
    what = numbers
    if installment is not None:
        # Mollie shows the description on its checkout page and the debtor's bank statement: their language.
        plan = installment.arrangement
        with in_debtor_language(debtor.language):
            what = gettext(
                "installment %(position)s of %(count)s (%(numbers)s)",
                position=installment.position,
                count=plan.installment_count,
                numbers=numbers,
            )
    mp = MolliePayment(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        amount=total,
        currency=portions[0][0].currency,
        description=f"{organisation.name}: {what}"[:255],
        request_key=key,
        installment_id=installment.id if installment is not None else None,
        items=[MolliePaymentItem(invoice_id=i.id, amount=amount) for i, amount in portions],
    )
    try:
        with session.begin_nested():
            session.add(mp)
            session.flush()
    except IntegrityError:
        # The other click made it a moment ago (the partial unique index on request_key): use that one.
        existing = _unfinished(session, organisation.id, key)
        if existing is None:
            raise
        return existing
    events.record(
        session,
        organisation.id,
        EventKind.PAYMENT_MOLLIE_STARTED,
        debtor_id=debtor.id,
        amount=total,
        currency=mp.currency,
        numbers=numbers,
    )
    return mp


def _create_request(organisation: Organisation, debtor: Debtor, mp: MolliePayment, urls: Urls, locale: str) -> dict:
    data = {
        "amount": {"currency": mp.currency, "value": _value(mp.amount)},
        "description": mp.description,
        "redirectUrl": urls.base + urls.redirect_path.format(id=mp.id),
        "webhookUrl": urls.base + urls.webhook_path,
        "locale": locale,
        # Our own ids, checked against our records when Mollie says it is paid.
        "metadata": {
            "duly_payment": mp.id,
            "organisation": organisation.id,
            "debtor": debtor.id,
            "invoices": [item.invoice_id for item in mp.items],
        },
    }
    methods = organisation.offered_methods
    if "klarna" in methods:
        # Klarna (pay later) needs the order lines and who is billed; without an address on file the debtor is
        # offered the other methods rather than a payment Mollie refuses.
        billing = _billing_address(debtor)
        if billing is None:
            methods = [m for m in methods if m != "klarna"]
        else:
            data["billingAddress"] = billing
            data["lines"] = [
                {
                    "description": f"{item.invoice.number}"[:100],
                    "quantity": 1,
                    "unitPrice": {"currency": mp.currency, "value": _value(item.amount)},
                    "totalAmount": {"currency": mp.currency, "value": _value(item.amount)},
                }
                for item in mp.items
            ]
    if methods:
        data["method"] = methods
    return data


def _billing_address(debtor: Debtor) -> dict | None:
    """The debtor as Mollie's billingAddress, or None when the address, postcode, city or e-mail is missing. A
    business is billed by its name; a person by given and family name (the last word is taken as the family name)."""
    email = debtor.dunning_email
    if not (debtor.address and debtor.postcode and debtor.city and debtor.country and email):
        return None
    address = {
        "streetAndNumber": debtor.address[:100],
        "postalCode": debtor.postcode,
        "city": debtor.city,
        "country": debtor.country,
        "email": email,
    }
    given, _, family = debtor.name.strip().rpartition(" ")
    if debtor.kind == "consumer" and given and family:
        return {**address, "givenName": given, "familyName": family}
    return {**address, "organizationName": debtor.name[:100]}


def sync(session: Session, mollie_id: str, *, endpoint: str) -> str:
    """Fetch a payment from Mollie with its organisation's key and apply it. Safe to repeat; returns what happened.

    Unknown ids change nothing: a webhook proves nothing, only what Mollie answers to our own key counts.
    """
    mp = session.scalar(select(MolliePayment).where(MolliePayment.mollie_id == mollie_id))
    if mp is None:
        session.rollback()
        return "unknown"
    organisation = session.get(Organisation, mp.organisation_id)
    client = client_for(organisation, endpoint)
    mp_id = mp.id
    session.rollback()  # end the read before the HTTP call
    try:
        remote = dict(client.payments.get(mollie_id))
    except NotFoundError:
        return "unknown"
    with session.begin():
        mp = session.scalar(
            select(MolliePayment)
            .where(MolliePayment.id == mp_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return _apply(session, mp, remote)


def _apply(session: Session, mp: MolliePayment, remote: dict) -> str:
    """Bring our row up to what Mollie says: status forward only, book once, reverse what went back."""
    outcome = "unchanged"
    if mp.mollie_id is None:
        mp.mollie_id = remote["id"]
        mp.mode = remote.get("mode", mp.mode)
        mp.checkout_url = ((remote.get("_links") or {}).get("checkout") or {}).get("href", "")[:500]
    status = remote.get("status", mp.status)
    if status in RANK and RANK[status] > RANK.get(mp.status, 0) or (mp.status == "creating" and status in RANK):
        old = mp.status
        mp.status = status
        mp.method = remote.get("method") or mp.method
        outcome = status
        if status in ("failed", "canceled", "expired"):
            events.record(
                session,
                mp.organisation_id,
                f"payment:mollie:{status}",
                debtor_id=mp.debtor_id,
                amount=mp.amount,
                currency=mp.currency,
                previous=old,
            )
    if mp.status == "paid" and mp.payment_id is None and not mp.flag:
        outcome = _book(session, mp, remote)
    if mp.payment_id is not None:
        outcome = _reverse(session, mp, remote) or outcome
    mp.updated_at = utcnow()
    return outcome


def _amount(remote: dict, field: str) -> tuple[Decimal, str]:
    value = remote.get(field) or {}
    return Decimal(value.get("value", "0.00")), value.get("currency", "")


def _book(session: Session, mp: MolliePayment, remote: dict) -> str:
    amount, currency = _amount(remote, "amount")
    metadata = remote.get("metadata") or {}
    problem = ""
    if amount != mp.amount or currency != mp.currency:
        problem = f"Mollie says {currency} {amount}, we asked for {mp.currency} {mp.amount}"
    elif not isinstance(metadata, dict) or metadata.get("duly_payment") != mp.id:
        problem = "Mollie's metadata does not name this payment"
    if problem:
        mp.flag = problem[:300]
        events.record(
            session,
            mp.organisation_id,
            EventKind.PAYMENT_MOLLIE_FLAGGED,
            debtor_id=mp.debtor_id,
            amount=amount,
            currency=currency,
            why=problem,
        )
        return "flagged"
    organisation = session.get(Organisation, mp.organisation_id)
    # Each invoice gets what was open when the debtor chose to pay, as far as it is still open now (a bank
    # transfer may have come in between); whatever is left stays as the debtor's credit.
    allocations = []
    received_on = utcnow().astimezone(organisation.tz).date()
    due = ledger.due_now(session, [item.invoice for item in mp.items], received_on)
    for item in mp.items:
        invoice = item.invoice
        part = min(item.amount, due[invoice.id])
        if part > ZERO:
            allocations.append((invoice.id, part))
    if mp.installment_id is not None:
        allocations = _plan_allocations(session, mp, allocations)
    payment = ledger.record_payment(
        session,
        mp.organisation_id,
        mp.debtor_id,
        mp.amount,
        mp.currency,
        received_on,
        method="mollie",
        reference=mp.mollie_id or "",
        allocations=allocations,
    )
    mp.payment_id = payment.id
    _queue_receipt(session, organisation, mp, payment)
    # What was paid leaves the schedule now, not at the clock's next planning run.
    enqueue_after_commit(session, "workers.jobs.plan_organisation", mp.organisation_id)
    return "booked"


def _plan_allocations(session: Session, mp: MolliePayment, allocations: list[tuple[int, Decimal]]):
    """An installment's money goes to its plan's invoices in order: what the items can no longer take (a bank
    transfer came in between) pays ahead on the plan's other invoices rather than sitting as credit."""
    left = mp.amount - sum((amount for _, amount in allocations), ZERO)
    if left <= ZERO:
        return allocations
    taken = dict(allocations)
    for item in session.get(Installment, mp.installment_id).arrangement.items:
        invoice = item.invoice
        room = (invoice.open_amount if invoice.status == "open" else ZERO) - taken.get(invoice.id, ZERO)
        part = min(room, left)
        if part > ZERO:
            taken[invoice.id] = taken.get(invoice.id, ZERO) + part
            left -= part
    return list(taken.items())


def _reverse(session: Session, mp: MolliePayment, remote: dict) -> str:
    """Refunds and chargebacks that Mollie reports beyond what we have reversed already."""
    outcome = ""
    for field, attr, why in (
        ("amountRefunded", "refunded_amount", "refunded through Mollie"),
        ("amountChargedBack", "charged_back_amount", "charged back by the debtor's bank"),
    ):
        total, _ = _amount(remote, field)
        done = getattr(mp, attr)
        if total > done:
            # A chargeback after a refund can take back more than we received; the books reverse only that.
            payment = session.get(Payment, mp.payment_id)
            part = min(total - done, payment.amount - payment.reversed_amount)
            if part > ZERO:
                ledger.reverse_payment(session, mp.payment_id, part, why=why)
            setattr(mp, attr, total)
            outcome = "reversed"
    return outcome


def _queue_receipt(session: Session, organisation: Organisation, mp: MolliePayment, payment: Payment) -> None:
    """One receipt per booked payment: queued in the booking's own transaction, so never twice nor lost. It says
    what the payment paid, as booked: per invoice, split over principal, interest and costs where it paid those
    (in the legal order, the costs come first), and what stays as the debtor's credit."""
    debtor = session.get(Debtor, mp.debtor_id)
    address = debtor.dunning_email
    if not address:
        return
    lines = [
        {"number": number, "total": sum((amount for _, amount in parts), ZERO), "parts": dict(parts)}
        for number, parts in ledger.paid_on(session, [payment.id]).get(payment.id, [])
    ]
    with in_debtor_language(debtor.language):
        queue_mail(
            session,
            to=address,
            template="payment_receipt",
            context={
                "organisation": organisation,
                "debtor": debtor,
                "mp": mp,
                "lines": lines,
                "credit": payment.unallocated_amount,
            },
            from_address=sender(organisation, current_app.config["MAIL_FROM"]),
            organisation_id=organisation.id,
        )
    mp.receipt_sent_at = utcnow()


def stale(session: Session, older_than: timedelta = timedelta(minutes=2), limit: int = 200) -> list[str]:
    """Payments whose webhook may have been lost: unfinished, or paid but not booked nor flagged."""
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(MolliePayment.mollie_id)
            .where(
                MolliePayment.mollie_id.is_not(None),
                MolliePayment.updated_at < cutoff,
                (MolliePayment.status.in_(UNFINISHED))
                | ((MolliePayment.status == "paid") & MolliePayment.payment_id.is_(None) & (MolliePayment.flag == "")),
            )
            .order_by(MolliePayment.updated_at)
            .limit(limit)
        )
    )


def due_for_recheck(session: Session, limit: int = RECHECK_PER_RUN) -> list[str]:
    """Booked payments of the last 180 days not asked about for a day, the longest unasked first. They are marked as
    asked now (``updated_at``, which every sync sets), so that one Mollie cannot answer waits its turn again rather
    than holding up the others, and a run beside this one takes others; the caller commits."""
    now = utcnow()
    rows = session.execute(
        select(MolliePayment.id, MolliePayment.mollie_id)
        .where(
            MolliePayment.mollie_id.is_not(None),
            MolliePayment.status == "paid",
            MolliePayment.payment_id.is_not(None),
            MolliePayment.created_at >= now - RECHECK_WINDOW,
            MolliePayment.updated_at < now - RECHECK_EVERY,
        )
        .order_by(MolliePayment.updated_at)
        .limit(limit)
    ).all()
    if rows:
        session.execute(
            update(MolliePayment)
            .where(MolliePayment.id.in_([row.id for row in rows]))
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return [row.mollie_id for row in rows]
