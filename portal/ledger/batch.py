"""Booking many payments at once (a bank statement): the rules and events of ``service.record_payment``, in a
handful of statements instead of a dozen per payment.

The invoices are locked first (FOR UPDATE; SQLite's writer holds the database), so the amounts checked are the
amounts changed; on PostgreSQL the paid invoices and the summaries the trigger would keep are updated set-wise.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from portal import bulk
from portal.events import Event, EventKind
from portal.invoices.models import Invoice
from portal.ledger.models import Allocation, Payment
from portal.ledger.service import LedgerError, check_target, record_payment
from portal.money import ZERO, parse_amount
from portal.organisations.models import Organisation
from portal.types import utcnow


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
    wanted = _wanted(payments)
    invoices = _locked_invoices(session, sorted(wanted))
    for p in payments:
        for invoice_id, _ in p.allocations:
            check_target(invoices.get(invoice_id), organisation_id, p.debtor_id, p.currency)
    singles = _paying_charges(session, organisation_id, payments, invoices)
    if singles:
        return _book_singles_first(session, organisation_id, payments, singles, method, actor_user_id)
    for invoice_id, total in wanted.items():
        if invoices[invoice_id].open_amount < total:
            raise LedgerError(f"{invoices[invoice_id].number} has less than {total} open")
    now = utcnow()
    with session.begin_nested():
        new_ids = _insert_payments(session, organisation_id, payments, method, now)
        allocations, changes, event_rows = _allocations(
            organisation_id, invoices, payments, new_ids, method, actor_user_id
        )
        # Rows that point at the invoices go in before the invoices change: their foreign-key checks then meet the
        # row versions this transaction locked already, instead of locking each new version once more.
        bulk.insert_rows(session, Allocation.__table__, [{**a, "created_at": now} for a in allocations])
        bulk.insert_rows(session, Event.__table__, event_rows)  # not an ORM flush per row
        if changes and bulk.postgres(session):
            _pay_set_wise(session, organisation_id, invoices, changes)
        elif changes:
            _pay_row_wise(session, changes)
    _expire_paid(session, changes)
    return list(new_ids)


def _wanted(payments: list[NewPayment]) -> dict[int, Decimal]:
    """What the payments together take of each invoice, once each payment and its allocations are checked."""
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
    return wanted


# The columns the checks need, as rows (no ORM objects to build for thousands of invoices).
_CHECKED = (
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


def _locked_invoices(session: Session, ids: list[int]) -> dict[int, object]:
    """The invoices the payments name, by id, locked until the transaction ends."""
    invoices: dict[int, object] = {}
    for among_ids in bulk.among(session, Invoice.id, ids):
        for invoice in session.execute(select(*_CHECKED).where(among_ids).with_for_update()):
            invoices[invoice.id] = invoice
    return invoices


def _paying_charges(session: Session, organisation_id: int, payments: list[NewPayment], invoices: dict) -> list[int]:
    """The payments (their places in the list) on invoices with costs or interest, where the organisation books in the
    legal order: those are split over the charges first (allocate_in_order), so they go one by one, as
    record_payment books them."""
    charged = {i.id for i in invoices.values() if i.costs_charged > ZERO or i.interest_from is not None}
    if not charged:
        return []
    organisation = session.get(Organisation, organisation_id)
    return [
        n
        for n, p in enumerate(payments)
        if organisation.legal_order and any(invoice_id in charged for invoice_id, _ in p.allocations)
    ]


def _book_singles_first(
    session: Session,
    organisation_id: int,
    payments: list[NewPayment],
    singles: list[int],
    method: str,
    actor_user_id: int | None,
) -> list[int]:
    """The payments paying charges one by one, the rest (they are many, these few) the bulk way; ids in the order
    given."""
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
    booked = record_payments(
        session, organisation_id, [payments[n] for n in rest], method=method, actor_user_id=actor_user_id
    )
    ids.update(zip(rest, booked, strict=True))
    return [ids[n] for n in range(len(payments))]


def _insert_payments(
    session: Session, organisation_id: int, payments: list[NewPayment], method: str, now: datetime
) -> list[int]:
    """The payments' rows, each with what its allocations leave unallocated; their ids in the order given."""
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
    if bulk.postgres(session):  # ids first, then COPY: no RETURNING to wait for row by row
        new_ids = bulk.new_ids(session, Payment.__table__, len(rows))
        bulk.insert_rows(session, Payment.__table__, [{"id": i, **r} for i, r in zip(new_ids, rows, strict=True)])
        return new_ids
    return session.scalars(insert(Payment).returning(Payment.id, sort_by_parameter_order=True), rows).all()


def _allocations(
    organisation_id: int,
    invoices: dict,
    payments: list[NewPayment],
    new_ids: list[int],
    method: str,
    actor_user_id: int | None,
) -> tuple[list[dict], dict[int, tuple[Decimal, date | None]], list[dict]]:
    """The allocation rows, what each invoice has open after them (and the day it was settled, if it was), and the
    events: each payment booked, each invoice it paid."""
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
            event_rows.append(_allocated_event(organisation_id, invoice, payment_id, actor_user_id, part, left, p.how))
    return allocations, changes, event_rows


def _allocated_event(organisation_id: int, invoice, payment_id: int, actor_user_id, part, left, how: str) -> dict:
    return _event_row(
        organisation_id,
        EventKind.INVOICE_PAYMENT_ALLOCATED,
        invoice.debtor_id,
        invoice.id,
        payment_id,
        actor_user_id,
        number=invoice.number,
        amount=part,
        currency=invoice.currency,
        open_amount=left,
        **({"how": how[:200]} if how else {}),
    )


def _pay_row_wise(session: Session, changes: dict) -> None:
    """Elsewhere (SQLite): the paid invoices in one executemany UPDATE; the summaries' row triggers move the totals."""
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


def _expire_paid(session: Session, changes: dict) -> None:
    # Invoices the session holds (a statement's matcher holds thousands) are stale now: the columns written are
    # reloaded when next read. Naming them spares expire() its walk over each invoice's relationships.
    for (cls, primary_key, *_), obj in list(session.identity_map.items()):
        if cls is Invoice and primary_key[0] in changes:
            session.expire(obj, ["open_amount", "status", "settled_on"])


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
    totals, balances = _summary_moves(invoices, changes)
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
    _add_to_summaries(session, organisation_id, totals, balances)


def _summary_moves(invoices: dict, changes: dict) -> tuple[dict[tuple, list], dict[tuple, list]]:
    """What the trigger would have moved: per (currency, due date) and per (debtor, currency), amount and count."""
    totals: dict[tuple, list] = {}
    balances: dict[tuple, list] = {}
    for invoice_id, (left, _) in changes.items():
        invoice = invoices[invoice_id]
        moves = [(left, 1)] if left > ZERO else []  # open after (an invoice: check_target), else paid
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
    return totals, balances


def _add_to_summaries(session: Session, organisation_id: int, totals: dict, balances: dict) -> None:
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
