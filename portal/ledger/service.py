"""The allocation service: the only code that changes an invoice's open amount or a payment's credit.

Every change is a conditional UPDATE (``open_amount >= :amount``), so two transactions can never spend the
same open amount twice, on PostgreSQL and SQLite alike, without holding row locks across the request.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, bindparam, case, func, insert, select, text, update
from sqlalchemy.orm import Session

from portal import bulk, events
from portal.errors import DomainError
from portal.events import Event, EventKind
from portal.invoices.models import Invoice
from portal.ledger.claims import claims, has_charges, in_legal_order
from portal.ledger.models import COMPONENTS, Allocation, DebtorBalance, OpenInvoiceTotal, Payment
from portal.money import ZERO, parse_amount, sum_by_currency
from portal.organisations.models import Organisation
from portal.types import utcnow


class LedgerError(DomainError):
    """A ledger operation that would break an invariant; nothing has been changed."""


def _take_from_invoice(session: Session, invoice: Invoice, amount: Decimal, on: date) -> None:
    result = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.open_amount >= amount)
        .values(
            open_amount=Invoice.open_amount - amount,
            status=case((Invoice.open_amount == amount, "paid"), else_="open"),
            settled_on=case((Invoice.open_amount == amount, on), else_=Invoice.settled_on),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LedgerError(f"{invoice.number} has less than {amount} open")
    session.refresh(invoice)


def _take_from_payment(session: Session, payment: Payment, amount: Decimal) -> None:
    result = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.unallocated_amount >= amount)
        .values(unallocated_amount=Payment.unallocated_amount - amount)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LedgerError(f"payment {payment.id} has less than {amount} unallocated")
    session.refresh(payment)


@contextmanager
def _one_step(session: Session, *objects):
    """Both sides of an allocation change together or not at all.

    A savepoint undoes the first UPDATE when the second is refused; the objects are expired as well, because
    the ORM does not expire what refresh() loaded inside a savepoint that was rolled back.
    """
    try:
        with session.begin_nested():
            yield
    except LedgerError:
        for obj in objects:
            session.expire(obj)
        raise


def _check_target(invoice: Invoice | None, organisation_id: int, debtor_id: int, currency: str) -> Invoice:
    if invoice is None or invoice.organisation_id != organisation_id or invoice.kind != "invoice":
        raise LedgerError("no such invoice")
    if invoice.debtor_id != debtor_id:
        raise LedgerError(f"{invoice.number} belongs to another debtor")
    if invoice.currency != currency:
        raise LedgerError(f"{invoice.number} is in {invoice.currency}, not {currency}")
    return invoice


def allocate_payment(
    session: Session,
    payment_id: int,
    invoice_id: int,
    amount: Decimal,
    *,
    component: str = "principal",
    actor_user_id: int | None = None,
    how: str = "",
) -> Allocation:
    """Apply part of a payment to an invoice's principal (or, ``component``, its interest or costs). ``how``: how
    the payment was found to be for this invoice (a bank match), for the timeline."""
    amount = parse_amount(amount)
    if amount <= ZERO:
        raise LedgerError("an allocation is a positive amount")
    if component not in COMPONENTS:
        raise LedgerError(f"unknown component {component}")
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise LedgerError("no such payment")
    invoice = _check_target(
        session.get(Invoice, invoice_id), payment.organisation_id, payment.debtor_id, payment.currency
    )
    # A savepoint makes the two updates one step: if the invoice refuses, the payment keeps its credit.
    with _one_step(session, payment, invoice):
        _take_from_payment(session, payment, amount)
        if component == "principal":
            _take_from_invoice(session, invoice, amount, payment.received_on)
        else:
            _take_charge(session, invoice, component, amount, payment.received_on)
    allocation = Allocation(
        organisation_id=payment.organisation_id,
        invoice_id=invoice.id,
        payment_id=payment.id,
        component=component,
        amount=amount,
    )
    session.add(allocation)
    events.record(
        session,
        payment.organisation_id,
        EventKind.INVOICE_PAYMENT_ALLOCATED,
        debtor_id=invoice.debtor_id,
        invoice_id=invoice.id,
        payment_id=payment.id,
        actor_user_id=actor_user_id,
        number=invoice.number,
        amount=amount,
        currency=invoice.currency,
        open_amount=invoice.open_amount,
        **({"component": component} if component != "principal" else {}),
        **({"how": how[:200]} if how else {}),
    )
    return allocation


def _take_charge(session: Session, invoice: Invoice, component: str, amount: Decimal, on: date) -> None:
    """Pay part of an invoice's collection costs or statutory interest, no more than it owes on ``on``."""
    debtor, organisation = invoice.debtor, session.get(Organisation, invoice.organisation_id)
    owed = getattr(claims(session, organisation, debtor, [invoice], on)[invoice.id], component)
    if amount > owed:
        raise LedgerError(f"{invoice.number} owes {owed} of {component}, not {amount}")
    column = Invoice.costs_paid if component == "costs" else Invoice.interest_paid
    # Conditional on what was paid when the claim was worked out: two payments cannot both take the same interest.
    result = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, column == getattr(invoice, column.key))
        .values({column.key: column + amount})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LedgerError(f"{invoice.number}: its {component} changed meanwhile")
    session.refresh(invoice)


def due_now(session: Session, invoices: list[Invoice], on: date) -> dict[int, Decimal]:
    """What each invoice takes of a payment received on ``on``: its principal, plus its costs and interest where
    it has any and the organisation books payments in the legal order."""
    due = {i.id: (i.open_amount if i.status == "open" else ZERO) for i in invoices}
    charged = [i for i in invoices if has_charges(i)]
    for invoice in charged:
        organisation = session.get(Organisation, invoice.organisation_id)
        if organisation.legal_order:
            due[invoice.id] = claims(session, organisation, invoice.debtor, [invoice], on)[invoice.id].total
    return due


def allocate_in_order(
    session: Session,
    payment: Payment,
    invoice_id: int,
    amount: Decimal,
    *,
    actor_user_id: int | None = None,
    how: str = "",
) -> list[Allocation]:
    """Apply money of a payment to an invoice: to its costs, then its interest, then its principal (art. 6:44 BW)
    where the organisation books in the legal order and the invoice has charges; else all to its principal."""
    invoice = session.get(Invoice, invoice_id)
    organisation = session.get(Organisation, payment.organisation_id)
    parts = [("principal", amount)]
    if invoice is not None and organisation.legal_order and has_charges(invoice):
        claim = claims(session, organisation, invoice.debtor, [invoice], payment.received_on)[invoice.id]
        parts = in_legal_order(claim, amount) or parts
    return [
        allocate_payment(
            session, payment.id, invoice_id, part, component=component, actor_user_id=actor_user_id, how=how
        )
        for component, part in parts
    ]


def allocate_credit_note(
    session: Session,
    credit_note_id: int,
    invoice_id: int,
    amount: Decimal,
    *,
    actor_user_id: int | None = None,
) -> Allocation:
    """Use part of a credit note's unused credit against an invoice."""
    amount = parse_amount(amount)
    if amount <= ZERO:
        raise LedgerError("an allocation is a positive amount")
    credit_note = session.get(Invoice, credit_note_id)
    if credit_note is None or credit_note.kind != "credit_note":
        raise LedgerError("no such credit note")
    invoice = _check_target(
        session.get(Invoice, invoice_id),
        credit_note.organisation_id,
        credit_note.debtor_id,
        credit_note.currency,
    )
    on = max(invoice.issue_date, credit_note.issue_date)
    with _one_step(session, credit_note, invoice):
        _take_from_invoice(session, credit_note, amount, on)
        _take_from_invoice(session, invoice, amount, on)
    allocation = Allocation(
        organisation_id=credit_note.organisation_id,
        invoice_id=invoice.id,
        credit_note_id=credit_note.id,
        component="principal",
        amount=amount,
    )
    session.add(allocation)
    events.record(
        session,
        invoice.organisation_id,
        EventKind.INVOICE_CREDIT_NOTE_ALLOCATED,
        debtor_id=invoice.debtor_id,
        invoice_id=invoice.id,
        actor_user_id=actor_user_id,
        number=invoice.number,
        credit_note=credit_note.number,
        amount=amount,
        currency=invoice.currency,
        open_amount=invoice.open_amount,
    )
    return allocation


def record_payment(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    amount: Decimal,
    currency: str,
    received_on: date,
    *,
    method: str = "manual",
    reference: str = "",
    allocations: list[tuple[int, Decimal]] | None = None,
    auto_allocate: bool = False,
    actor_user_id: int | None = None,
    how: str = "",
) -> Payment:
    """Book money received from a debtor and allocate it. ``how``: how it was found to be for these invoices (a
    bank match: "payment reference ...", "matched by hand"), said on their timelines.

    ``allocations`` names (invoice id, amount) pairs; ``auto_allocate`` spreads the payment over the debtor's
    open invoices in that currency, oldest due first. Whatever is left stays on the payment as the debtor's
    credit: an overpayment is never lost.
    """
    amount = parse_amount(amount)
    if amount <= ZERO:
        raise LedgerError("a payment is a positive amount")
    try:
        with session.begin_nested():  # all or nothing: a refused allocation leaves no half-booked payment
            payment = Payment(
                organisation_id=organisation_id,
                debtor_id=debtor_id,
                amount=amount,
                currency=currency,
                unallocated_amount=amount,
                received_on=received_on,
                method=method,
                reference=reference,
            )
            session.add(payment)
            session.flush()
            events.record(
                session,
                organisation_id,
                f"payment:{method}:booked",
                debtor_id=debtor_id,
                payment_id=payment.id,
                actor_user_id=actor_user_id,
                amount=amount,
                currency=currency,
                reference=reference,
            )
            if allocations:
                if sum((a for _, a in allocations), ZERO) > amount:
                    raise LedgerError("the allocations add up to more than the payment")
                for invoice_id, part in allocations:
                    allocate_in_order(session, payment, invoice_id, part, actor_user_id=actor_user_id, how=how)
            elif auto_allocate:
                invoices = open_invoices(session, organisation_id, debtor_id, currency)
                due = due_now(session, invoices, received_on)
                for invoice in invoices:
                    if payment.unallocated_amount == ZERO:
                        break
                    part = min(due[invoice.id], payment.unallocated_amount)
                    allocate_in_order(session, payment, invoice.id, part, actor_user_id=actor_user_id)
            return payment
    except LedgerError:
        session.expire_all()  # earlier allocations of this payment were undone with the savepoint
        raise


def reverse_payment(
    session: Session, payment_id: int, amount: Decimal, *, why: str, actor_user_id: int | None = None
) -> list[Invoice]:
    """Money of a payment went back (a refund, a chargeback, a returned transfer): undo that much of it.

    The debtor's unused credit from the payment goes first, then its allocations, the latest first, each
    reopening its invoice, so that reminders pick the invoice up again. Returns the invoices reopened.
    """
    amount = parse_amount(amount)
    if amount <= ZERO:
        raise LedgerError("a reversal is a positive amount")
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise LedgerError("no such payment")
    if payment.reversed_amount + amount > payment.amount:
        raise LedgerError(f"payment {payment.id} has only {payment.amount - payment.reversed_amount} left to reverse")
    reopened: list[Invoice] = []
    with _one_step(session, payment):
        left = amount
        from_credit = min(left, payment.unallocated_amount)
        if from_credit:
            _take_from_payment(session, payment, from_credit)
            left -= from_credit
        allocations = session.scalars(
            select(Allocation).where(Allocation.payment_id == payment.id).order_by(Allocation.id.desc())
        ).all()
        for allocation in allocations:
            if left == ZERO:
                break
            part = min(left, allocation.amount)
            left -= part
            invoice = allocation.invoice
            _give_back_to_invoice(session, invoice, part, allocation.component)
            if part == allocation.amount:
                session.delete(allocation)
            else:
                allocation.amount -= part
            reopened.append(invoice)
            events.record(
                session,
                payment.organisation_id,
                EventKind.INVOICE_PAYMENT_REVERSED,
                debtor_id=invoice.debtor_id,
                invoice_id=invoice.id,
                payment_id=payment.id,
                actor_user_id=actor_user_id,
                number=invoice.number,
                amount=part,
                currency=invoice.currency,
                open_amount=invoice.open_amount,
                why=why,
            )
        if left:
            raise LedgerError(f"payment {payment.id} has less than {amount} booked")
        session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(reversed_amount=Payment.reversed_amount + amount)
            .execution_options(synchronize_session=False)
        )
        session.refresh(payment)
    events.record(
        session,
        payment.organisation_id,
        EventKind.PAYMENT_REVERSED,
        debtor_id=payment.debtor_id,
        payment_id=payment.id,
        actor_user_id=actor_user_id,
        amount=amount,
        currency=payment.currency,
        why=why,
    )
    return reopened


def _give_back_to_invoice(session: Session, invoice: Invoice, amount: Decimal, component: str = "principal") -> None:
    # Only the allocation service changes open amounts; giving back can never pass the total, as the
    # allocation it undoes was part of it.
    if component == "principal":
        values = {"open_amount": Invoice.open_amount + amount, "status": "open", "settled_on": None}
    else:
        column = Invoice.costs_paid if component == "costs" else Invoice.interest_paid
        values = {column.key: column - amount}
    session.execute(
        update(Invoice).where(Invoice.id == invoice.id).values(values).execution_options(synchronize_session=False)
    )
    session.refresh(invoice)


def open_invoices(session: Session, organisation_id: int, debtor_id: int, currency: str) -> list[Invoice]:
    """A debtor's open invoices in one currency, oldest due first."""
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.organisation_id == organisation_id,
                Invoice.debtor_id == debtor_id,
                Invoice.kind == "invoice",
                Invoice.currency == currency,
                Invoice.status == "open",
            )
            .order_by(Invoice.due_date.asc().nulls_last(), Invoice.id)
        )
    )


# The parts of an invoice a payment pays, in the order the law has it pay them (art. 6:44 BW).
LEGAL_ORDER = {"costs": 0, "interest": 1, "principal": 2}


def paid_on(session: Session, payment_ids: list[int]) -> dict[int, list[tuple[str, list[tuple[str, Decimal]]]]]:
    """What each payment paid: per invoice number (in number order) its parts, costs, interest, principal, each
    summed. One query however many payments (the Payments page, a receipt)."""
    paid: dict[int, dict[str, dict[str, Decimal]]] = {}
    rows = session.execute(
        select(Allocation.payment_id, Invoice.number, Allocation.component, Allocation.amount)
        .join(Invoice, Invoice.id == Allocation.invoice_id)
        .where(Allocation.payment_id.in_(payment_ids))
        .order_by(Allocation.payment_id, Invoice.number, Allocation.id)
    )
    for payment_id, number, component, amount in rows:
        parts = paid.setdefault(payment_id, {}).setdefault(number, {})
        parts[component] = parts.get(component, ZERO) + amount
    return {
        payment_id: [
            (number, sorted(parts.items(), key=lambda part: LEGAL_ORDER[part[0]])) for number, parts in invoices.items()
        ]
        for payment_id, invoices in paid.items()
    }


def debtor_credit(session: Session, organisation_id: int, debtor_id: int) -> dict[str, Decimal]:
    """Unallocated payments and unused credit notes, per currency."""
    payments = session.execute(
        select(Payment.currency, func.sum(Payment.unallocated_amount))
        .where(Payment.organisation_id == organisation_id, Payment.debtor_id == debtor_id)
        .group_by(Payment.currency)
    ).all()
    credit_notes = session.execute(
        select(Invoice.currency, func.sum(Invoice.open_amount))
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.debtor_id == debtor_id,
            Invoice.kind == "credit_note",
        )
        .group_by(Invoice.currency)
    ).all()
    return {c: a for c, a in sum_by_currency([*payments, *credit_notes]).items() if a}


def ledger_discrepancies(session: Session, organisation_id: int) -> list[str]:
    """Recompute every stored amount from the allocations; an empty list means the ledger balances."""
    problems: list[str] = []
    by_invoice = dict(
        session.execute(
            select(Allocation.invoice_id, func.sum(Allocation.amount))
            .where(Allocation.organisation_id == organisation_id, Allocation.component == "principal")
            .group_by(Allocation.invoice_id)
        ).all()
    )
    by_credit_note = dict(
        session.execute(
            select(Allocation.credit_note_id, func.sum(Allocation.amount))
            .where(Allocation.organisation_id == organisation_id, Allocation.credit_note_id.is_not(None))
            .group_by(Allocation.credit_note_id)
        ).all()
    )
    by_payment = dict(
        session.execute(
            select(Allocation.payment_id, func.sum(Allocation.amount))
            .where(Allocation.organisation_id == organisation_id, Allocation.payment_id.is_not(None))
            .group_by(Allocation.payment_id)
        ).all()
    )
    invoices = session.scalars(select(Invoice).where(Invoice.organisation_id == organisation_id))
    for inv in invoices:
        if inv.kind == "invoice":
            expected = inv.total - (by_invoice.get(inv.id) or ZERO)
        else:
            expected = -inv.total - (by_credit_note.get(inv.id) or ZERO)
        if inv.open_amount != expected:
            problems.append(f"{inv.kind} {inv.number}: open {inv.open_amount}, expected {expected}")
        if inv.open_amount < ZERO:
            problems.append(f"{inv.kind} {inv.number}: open amount below zero")
        if (inv.status == "paid") != (inv.open_amount == ZERO):
            problems.append(f"{inv.kind} {inv.number}: status {inv.status} with open {inv.open_amount}")
    problems += _summary_discrepancies(session, organisation_id)
    for pay in session.scalars(select(Payment).where(Payment.organisation_id == organisation_id)):
        expected = pay.amount - pay.reversed_amount - (by_payment.get(pay.id) or ZERO)
        if pay.unallocated_amount != expected or expected < ZERO:
            problems.append(f"payment {pay.id}: unallocated {pay.unallocated_amount}, expected {expected}")
    return problems


def _organisation_today(session: Session, invoice: Invoice) -> date:
    return session.get(Organisation, invoice.organisation_id).today()


def change_total(session: Session, invoice_id: int, new_total: Decimal, *, actor_user_id: int | None = None) -> Invoice:
    """Correct an invoice's total; its open amount moves by the same difference and may not go below zero."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise LedgerError("no such invoice")
    new_total = parse_amount(new_total, allow_negative=True)
    if (invoice.kind == "invoice" and new_total < ZERO) or (invoice.kind == "credit_note" and new_total > ZERO):
        raise LedgerError("the total has the wrong sign for this kind of document")
    # An invoice's open amount grows with its total; a credit note's unused credit grows as its total falls.
    delta = new_total - invoice.total if invoice.kind == "invoice" else invoice.total - new_total
    if delta == ZERO:
        return invoice
    result = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.open_amount + delta >= 0)
        .values(
            total=new_total,
            open_amount=Invoice.open_amount + delta,
            status=case((Invoice.open_amount + delta == 0, "paid"), else_="open"),
            # Settled today when the correction leaves nothing open; reopened, it is no longer settled.
            settled_on=case((Invoice.open_amount + delta == 0, _organisation_today(session, invoice)), else_=None),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LedgerError(f"more than {new_total} has already been paid or credited on {invoice.number}")
    old_total = invoice.total
    session.refresh(invoice)
    events.record(
        session,
        invoice.organisation_id,
        EventKind.INVOICE_TOTAL_CHANGED,
        debtor_id=invoice.debtor_id,
        invoice_id=invoice.id,
        actor_user_id=actor_user_id,
        number=invoice.number,
        old_total=old_total,
        total=new_total,
        currency=invoice.currency,
    )
    return invoice


def _summary_discrepancies(session: Session, organisation_id: int) -> list[str]:
    """The trigger-kept summaries against the open invoices they summarise."""
    problems = []
    open_invoices = (Invoice.organisation_id == organisation_id, Invoice.kind == "invoice", Invoice.status == "open")
    for label, model, keys, columns in (
        ("due-date totals", OpenInvoiceTotal, ("currency", "due_date"), (Invoice.currency, Invoice.due_date)),
        ("debtor balances", DebtorBalance, ("debtor_id", "currency"), (Invoice.debtor_id, Invoice.currency)),
    ):
        expected = {
            tuple(row[:2]): (row[2], row[3])
            for row in session.execute(
                select(*columns, func.sum(Invoice.open_amount), func.count(Invoice.id))
                .where(*open_invoices)
                .group_by(*columns)
            )
        }
        stored = {
            tuple(getattr(row, key) for key in keys): (row.open_amount, row.invoice_count)
            for row in session.scalars(select(model).where(model.organisation_id == organisation_id))
            if row.invoice_count or row.open_amount
        }
        if stored != expected:
            problems.append(f"{label}: stored {len(stored)} rows differ from the open invoices ({len(expected)} rows)")
    return problems


@dataclass
class NewPayment:
    """One payment for ``record_payments``: money from a debtor and the (invoice id, amount) pairs it pays."""

    debtor_id: int
    amount: Decimal
    currency: str
    received_on: date
    reference: str = ""
    allocations: list[tuple[int, Decimal]] = field(default_factory=list)
    how: str = ""  # how it was found to be for these invoices, for their timelines


def record_payments(
    session: Session, organisation_id: int, payments: list[NewPayment], *, method: str, actor_user_id: int | None = None
) -> list[int]:
    """Book many payments at once (a bank statement), with the same rules and events as ``record_payment``, in a
    handful of statements instead of a dozen per payment. The invoices are locked first (FOR UPDATE; SQLite's
    writer holds the database), so the amounts checked are the amounts changed: all is booked, or, with a
    LedgerError, nothing. Returns the new payments' ids in the order given."""
    if not payments:
        return []
    wanted: dict[int, Decimal] = {}
    for p in payments:
        if parse_amount(p.amount) <= ZERO:
            raise LedgerError("a payment is a positive amount")
        if sum((a for _, a in p.allocations), ZERO) > p.amount:
            raise LedgerError("the allocations add up to more than the payment")
        for invoice_id, part in p.allocations:
            if part <= ZERO:
                raise LedgerError("an allocation is a positive amount")
            wanted[invoice_id] = wanted.get(invoice_id, ZERO) + part
    # The columns the checks need, as rows (no ORM objects to build for thousands of invoices), locked.
    invoices: dict[int, object] = {}
    ids = sorted(wanted)
    columns = (
        Invoice.id,
        Invoice.organisation_id,
        Invoice.debtor_id,
        Invoice.kind,
        Invoice.currency,
        Invoice.number,
        Invoice.open_amount,
        Invoice.status,
        Invoice.due_date,
        Invoice.costs_charged,
        Invoice.interest_from,
    )
    for among_ids in bulk.among(session, Invoice.id, ids):
        for invoice in session.execute(select(*columns).where(among_ids).with_for_update()):
            invoices[invoice.id] = invoice
    for p in payments:
        for invoice_id, _ in p.allocations:
            _check_target(invoices.get(invoice_id), organisation_id, p.debtor_id, p.currency)
    # Payments on invoices with costs or interest are split over those first (allocate_in_order): one by one, as
    # record_payment books them. They are few; the rest goes the bulk way.
    if any(i.costs_charged > ZERO or i.interest_from is not None for i in invoices.values()):
        organisation = session.get(Organisation, organisation_id)
        charged = {i.id for i in invoices.values() if i.costs_charged > ZERO or i.interest_from is not None}
        singles = [
            n
            for n, p in enumerate(payments)
            if organisation.legal_order and any(invoice_id in charged for invoice_id, _ in p.allocations)
        ]
        if singles:
            ids = {
                n: record_payment(
                    session,
                    organisation_id,
                    payments[n].debtor_id,
                    payments[n].amount,
                    payments[n].currency,
                    payments[n].received_on,
                    method=method,
                    reference=payments[n].reference[:100],
                    allocations=payments[n].allocations,
                    actor_user_id=actor_user_id,
                    how=payments[n].how,
                ).id
                for n in singles
            }
            rest = [n for n in range(len(payments)) if n not in ids]
            ids.update(
                zip(
                    rest,
                    record_payments(
                        session,
                        organisation_id,
                        [payments[n] for n in rest],
                        method=method,
                        actor_user_id=actor_user_id,
                    ),
                    strict=True,
                )
            )
            return [ids[n] for n in range(len(payments))]
    for invoice_id, total in wanted.items():
        if invoices[invoice_id].open_amount < total:
            raise LedgerError(f"{invoices[invoice_id].number} has less than {total} open")
    now = utcnow()
    rows = [
        {
            "organisation_id": organisation_id,
            "debtor_id": p.debtor_id,
            "amount": p.amount,
            "currency": p.currency,
            "unallocated_amount": p.amount - sum((a for _, a in p.allocations), ZERO),
            "reversed_amount": ZERO,
            "received_on": p.received_on,
            "method": method,
            "reference": p.reference[:100],
            "created_at": now,
        }
        for p in payments
    ]
    with session.begin_nested():
        if bulk.postgres(session):  # ids first, then COPY: no RETURNING to wait for row by row
            new_ids = bulk.new_ids(session, Payment.__table__, len(rows))
            bulk.insert_rows(session, Payment.__table__, [{"id": i, **r} for i, r in zip(new_ids, rows, strict=True)])
        else:
            new_ids = session.scalars(insert(Payment).returning(Payment.id, sort_by_parameter_order=True), rows).all()
        allocations, changes, event_rows = [], {}, []
        for payment_id, p in zip(new_ids, payments, strict=True):
            event_rows.append(
                _event_row(
                    organisation_id,
                    f"payment:{method}:booked",
                    p.debtor_id,
                    None,
                    payment_id,
                    actor_user_id,
                    amount=p.amount,
                    currency=p.currency,
                    reference=p.reference[:100],
                )
            )
            for invoice_id, part in p.allocations:
                invoice = invoices[invoice_id]
                left = changes.get(invoice_id, (invoice.open_amount, None))[0] - part
                changes[invoice_id] = (left, p.received_on if left == ZERO else None)
                allocations.append(
                    {
                        "organisation_id": organisation_id,
                        "invoice_id": invoice_id,
                        "payment_id": payment_id,
                        "component": "principal",
                        "amount": part,
                    }
                )
                event_rows.append(
                    _event_row(
                        organisation_id,
                        EventKind.INVOICE_PAYMENT_ALLOCATED,
                        invoice.debtor_id,
                        invoice_id,
                        payment_id,
                        actor_user_id,
                        number=invoice.number,
                        amount=part,
                        currency=invoice.currency,
                        open_amount=left,
                        **({"how": p.how[:200]} if p.how else {}),
                    )
                )
        # Rows that point at the invoices go in before the invoices change: their foreign-key checks then meet the
        # row versions this transaction locked already, instead of locking each new version once more.
        bulk.insert_rows(session, Allocation.__table__, [{**a, "created_at": now} for a in allocations])
        bulk.insert_rows(session, Event.__table__, event_rows)  # not an ORM flush per row
        if changes and bulk.postgres(session):
            _pay_set_wise(session, organisation_id, invoices, changes)
        elif changes:
            table = Invoice.__table__  # Core: an executemany UPDATE, not the ORM's bulk update by primary key
            session.execute(
                update(table)
                .where(table.c.id == bindparam("target_id"))
                .values(
                    open_amount=bindparam("new_open", type_=table.c.open_amount.type),
                    status=bindparam("new_status"),
                    settled_on=func.coalesce(bindparam("new_settled_on", type_=Date()), table.c.settled_on),
                ),
                [
                    {
                        "target_id": invoice_id,
                        "new_open": left,
                        "new_status": "paid" if left == ZERO else "open",
                        "new_settled_on": settled_on,
                    }
                    for invoice_id, (left, settled_on) in changes.items()
                ],
            )
    # Invoices the session holds (a statement's matcher holds thousands) are stale now: the columns written are
    # reloaded when next read. Naming them spares expire() its walk over each invoice's relationships.
    for (cls, primary_key, *_), obj in list(session.identity_map.items()):
        if cls is Invoice and primary_key[0] in changes:
            session.expire(obj, ["open_amount", "status", "settled_on"])
    return list(new_ids)


_PAY_INVOICES = text(
    """
    UPDATE invoices
       SET open_amount = paid.open_amount,
           status = CASE WHEN paid.open_amount = 0 THEN 'paid' ELSE 'open' END,
           settled_on = coalesce(paid.settled_on, invoices.settled_on)
      FROM unnest(CAST(:ids AS integer[]), CAST(:open_amounts AS numeric[]), CAST(:settled_on AS date[]))
           AS paid (id, open_amount, settled_on)
     WHERE invoices.id = paid.id
    """
)
_ADD_TO_TOTALS = text(
    """
    INSERT INTO open_invoice_totals (organisation_id, currency, due_date, open_amount, invoice_count)
    SELECT :organisation_id, moved.* FROM unnest(
           CAST(:currencies AS varchar[]), CAST(:due_dates AS date[]), CAST(:amounts AS numeric[]),
           CAST(:counts AS integer[])) AS moved
    ON CONFLICT (organisation_id, currency, due_date) DO UPDATE
       SET open_amount = open_invoice_totals.open_amount + EXCLUDED.open_amount,
           invoice_count = open_invoice_totals.invoice_count + EXCLUDED.invoice_count
    """
)
_ADD_TO_BALANCES = text(
    """
    INSERT INTO debtor_balances (debtor_id, currency, organisation_id, open_amount, invoice_count)
    SELECT moved.debtor_id, moved.currency, :organisation_id, moved.amount, moved.count FROM unnest(
           CAST(:debtor_ids AS integer[]), CAST(:currencies AS varchar[]), CAST(:amounts AS numeric[]),
           CAST(:counts AS integer[])) AS moved (debtor_id, currency, amount, count)
    ON CONFLICT (debtor_id, currency) DO UPDATE
       SET open_amount = debtor_balances.open_amount + EXCLUDED.open_amount,
           invoice_count = debtor_balances.invoice_count + EXCLUDED.invoice_count
    """
)


def _pay_set_wise(session: Session, organisation_id: int, invoices: dict, changes: dict) -> None:
    """PostgreSQL: the paid invoices in one UPDATE, with the summaries' row trigger standing aside (migration 0015;
    since 0016 its WHEN clause skips it before it is called), then the summaries moved by what the trigger would
    have moved, once per due date and per debtor: two upserts instead of four statements an invoice (for 8,500
    invoices among a million, a quarter of a second instead of three). The invoices are locked (record_payments), so
    their old amounts, read then, are the amounts the UPDATE replaces."""
    totals: dict[tuple, list] = {}
    balances: dict[tuple, list] = {}
    for invoice_id, (left, _) in changes.items():
        invoice = invoices[invoice_id]
        moves = [(left, 1)] if left > ZERO else []  # open after (an invoice: _check_target), else paid
        if invoice.kind == "invoice" and invoice.status == "open":
            moves.append((-invoice.open_amount, -1))
        for amount, count in moves:
            for summary, key in (
                (totals, (invoice.currency, invoice.due_date)),
                (balances, (invoice.debtor_id, invoice.currency)),
            ):
                moved = summary.setdefault(key, [ZERO, 0])
                moved[0] += amount
                moved[1] += count
    # Set-local, and set back after the one statement: any other write in this transaction keeps the trigger. A
    # failure rolls the savepoint back, and the setting with it.
    session.execute(text("SELECT set_config('duly.bulk_totals', 'on', true)"))
    # In id order, which is about the order on disk: at a million invoices that halves the UPDATE's time.
    ids = sorted(changes)
    session.execute(
        _PAY_INVOICES,
        {
            "ids": ids,
            "open_amounts": [changes[i][0] for i in ids],
            "settled_on": [changes[i][1] for i in ids],
        },
    )
    session.execute(text("SELECT set_config('duly.bulk_totals', 'off', true)"))
    # Sorted, so that two bulk bookings take these rows in the same order: one waits for the other, no deadlock.
    totals = {key: moved for key, moved in sorted(totals.items()) if moved != [ZERO, 0]}
    balances = {key: moved for key, moved in sorted(balances.items()) if moved != [ZERO, 0]}
    if totals:
        session.execute(
            _ADD_TO_TOTALS,
            {
                "organisation_id": organisation_id,
                "currencies": [currency for currency, _ in totals],
                "due_dates": [due_date for _, due_date in totals],
                "amounts": [amount for amount, _ in totals.values()],
                "counts": [count for _, count in totals.values()],
            },
        )
    if balances:
        session.execute(
            _ADD_TO_BALANCES,
            {
                "organisation_id": organisation_id,
                "debtor_ids": [debtor_id for debtor_id, _ in balances],
                "currencies": [currency for _, currency in balances],
                "amounts": [amount for amount, _ in balances.values()],
                "counts": [count for _, count in balances.values()],
            },
        )


def _event_row(organisation_id, kind, debtor_id, invoice_id, payment_id, actor_user_id, **data) -> dict:
    return {
        "organisation_id": organisation_id,
        "kind": EventKind(kind),  # refused here if unknown, as events.record refuses it
        "debtor_id": debtor_id,
        "invoice_id": invoice_id,
        "payment_id": payment_id,
        "actor_user_id": actor_user_id,
        "data": {k: str(v) if not isinstance(v, int | str | bool | None) else v for k, v in data.items()},
        "created_at": utcnow(),
    }
