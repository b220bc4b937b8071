"""The allocation service: the only code that changes an invoice's open amount or a payment's credit (with
``batch``, which books a bank statement's payments by the same rules in a few statements).

Every change is a conditional UPDATE (``open_amount >= :amount``), so two transactions can never spend the
same open amount twice, on PostgreSQL and SQLite alike, without holding row locks across the request.
"""

from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from portal import events
from portal.errors import DomainError
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.ledger.claims import claims, has_charges, in_legal_order
from portal.ledger.models import COMPONENTS, Allocation, DebtorBalance, OpenInvoiceTotal, Payment
from portal.money import ZERO, parse_amount, sum_by_currency
from portal.organisations.models import Organisation


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


def check_target(invoice: Invoice | None, organisation_id: int, debtor_id: int, currency: str) -> Invoice:
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
    invoice = check_target(
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
    invoice = check_target(
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
                _allocate_as_named(session, payment, amount, allocations, actor_user_id=actor_user_id, how=how)
            elif auto_allocate:
                _allocate_oldest_first(session, payment, actor_user_id=actor_user_id)
            return payment
    except LedgerError:
        session.expire_all()  # earlier allocations of this payment were undone with the savepoint
        raise


def _allocate_as_named(
    session: Session,
    payment: Payment,
    amount: Decimal,
    allocations: list[tuple[int, Decimal]],
    *,
    actor_user_id: int | None,
    how: str,
) -> None:
    if sum((a for _, a in allocations), ZERO) > amount:
        raise LedgerError("the allocations add up to more than the payment")
    for invoice_id, part in allocations:
        allocate_in_order(session, payment, invoice_id, part, actor_user_id=actor_user_id, how=how)


def _allocate_oldest_first(session: Session, payment: Payment, *, actor_user_id: int | None) -> None:
    """A new payment spread over its debtor's open invoices in its currency, oldest due first, each as far as it is
    due on the day the money came in; what is left stays the debtor's credit."""
    invoices = open_invoices(session, payment.organisation_id, payment.debtor_id, payment.currency)
    due = due_now(session, invoices, payment.received_on)
    for invoice in invoices:
        if payment.unallocated_amount == ZERO:
            break
        part = min(due[invoice.id], payment.unallocated_amount)
        allocate_in_order(session, payment, invoice.id, part, actor_user_id=actor_user_id)


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
    with _one_step(session, payment):
        left = amount
        from_credit = min(left, payment.unallocated_amount)
        if from_credit:
            _take_from_payment(session, payment, from_credit)
            left -= from_credit
        left, reopened = _take_back_allocations(session, payment, left, why=why, actor_user_id=actor_user_id)
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


def _take_back_allocations(
    session: Session, payment: Payment, left: Decimal, *, why: str, actor_user_id: int | None
) -> tuple[Decimal, list[Invoice]]:
    """Up to ``left`` taken back from a payment's allocations, the latest first, each reopening its invoice. Returns
    what could not be taken back and the invoices reopened."""
    reopened: list[Invoice] = []
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
    return left, reopened


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
