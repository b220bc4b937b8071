"""What the ledger gives the supplier's accountant: booked payments with what each paid, and the same as double-entry
journal lines, the shape bookkeeping packages import. Rows are generated as they are read (a stream of any size), in
a fixed number of queries however many payments there are."""

from collections.abc import Iterator
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.ledger.models import Allocation, Payment
from portal.money import ZERO

PAYMENTS_HEADER = [
    "date",
    "payment",
    "method",
    "debtor number",
    "debtor",
    "reference",
    "payment amount",
    "currency",
    "invoice",
    "part",  # principal, interest or costs: a payment of a claim pays each in the legal order
    "allocated",
    "credit left",
    "reversed",
]
JOURNAL_HEADER = [
    "date",
    "entry",
    "debtor number",
    "debtor",
    "account",
    "invoice",
    "description",
    "debit",
    "credit",
    "currency",
]
# The journal's accounts: where the money came in by method, and the debtors' (receivables) account.
JOURNAL_ACCOUNTS = {"bank": "Bank", "mollie": "Mollie", "manual": "Bank", "demo": "Bank"}
DEBTORS = "Debtors"
BATCH = 1000  # rows fetched at a time


def payment_rows(session: Session, organisation_id: int) -> Iterator[list]:
    """Booked payments (all methods), one row per allocation: the payment, the invoice it paid, the part and
    amount, and what was left as the debtor's credit and what went back."""
    stmt = (
        select(Payment, Allocation, Invoice)
        .where(Payment.organisation_id == organisation_id)
        .outerjoin(Allocation, Allocation.payment_id == Payment.id)
        .outerjoin(Invoice, Invoice.id == Allocation.invoice_id)
        .options(selectinload(Payment.debtor))
        .order_by(Payment.received_on, Payment.id, Allocation.id)
        .execution_options(yield_per=BATCH)
    )
    for payment, allocation, invoice in session.execute(stmt):
        yield [
            payment.received_on.isoformat(),
            payment.id,
            payment.method,
            payment.debtor.number if payment.debtor else "",
            payment.debtor.name if payment.debtor else "",
            payment.reference,
            payment.amount,
            payment.currency,
            invoice.number if invoice is not None else "",
            allocation.component if allocation is not None else "",
            allocation.amount if allocation is not None else "",
            payment.unallocated_amount,
            payment.reversed_amount,
        ]


def journal_lines(session: Session, organisation_id: int) -> Iterator[list]:
    """Per payment a debit on the account the money came into and a credit on Debtors per invoice it paid (and for
    what it left as credit); for money that went back (refunds, chargebacks, returned transfers) the same the other
    way round. The debits and credits of each payment balance. One query: the payments with their allocations."""
    stmt = (
        select(
            Payment.id,
            Payment.received_on,
            Payment.method,
            Payment.reference,
            Payment.amount,
            Payment.currency,
            Payment.reversed_amount,
            Debtor.number,
            Debtor.name,
            Invoice.number,
            Allocation.amount,
        )
        .join(Debtor, Debtor.id == Payment.debtor_id)
        .outerjoin(Allocation, Allocation.payment_id == Payment.id)
        .outerjoin(Invoice, Invoice.id == Allocation.invoice_id)
        .where(Payment.organisation_id == organisation_id)
        .order_by(Payment.received_on, Payment.id, Allocation.id)
        .execution_options(yield_per=BATCH)
    )
    for _, rows in groupby(session.execute(stmt), key=lambda row: row[0]):
        yield from _entry(list(rows))


def _entry(rows: list) -> Iterator[list]:
    """The lines of one payment, from its rows (one per allocation, or one without any)."""
    payment_id, received_on, method, reference, amount, currency, reversed_amount, number, name, _, _ = rows[0]
    common = [received_on.isoformat(), f"P{payment_id}", number or "", name]
    account = JOURNAL_ACCOUNTS.get(method, "Bank")
    what = f"{method} {reference}".strip()
    yield [*common, account, "", what, amount, "", currency]
    allocated = ZERO
    for *_, invoice_number, allocation_amount in rows:
        if allocation_amount is None:
            continue
        allocated += allocation_amount
        yield [*common, DEBTORS, invoice_number, what, "", allocation_amount, currency]
    if amount - allocated > ZERO:
        yield [*common, DEBTORS, "", f"{what}: on account", "", amount - allocated, currency]
    if reversed_amount:
        yield [*common, DEBTORS, "", f"{what}: went back", reversed_amount, "", currency]
        yield [*common, account, "", f"{what}: went back", "", reversed_amount, currency]
