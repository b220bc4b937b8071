"""Entering invoices and credit notes, and correcting them: the sales ledger's records, whose money effects (a
credit note applied, a changed total) go through the ledger's own allocation."""

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import Debtor
from portal.events import EventKind
from portal.invoices import references
from portal.invoices.models import INVOICE_KINDS, INVOICE_SOURCES, Invoice, InvoiceDocument
from portal.invoices.service import InvoiceError
from portal.ledger.service import LedgerError, allocate_credit_note, change_total
from portal.money import ZERO, parse_amount
from portal.organisations.models import Organisation


def first_step(session: Session, organisation_id: int) -> int:
    """Where a new invoice starts its scenario: -1 waits for Duly to deliver it, when the organisation wants that."""
    deliver = session.scalar(select(Organisation.deliver_invoices).where(Organisation.id == organisation_id))
    return -1 if deliver else 0


def create_invoice(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    *,
    number: str,
    issue_date: date,
    total: Decimal,
    due_date: date | None = None,
    currency: str = "EUR",
    kind: str = "invoice",
    payment_reference: str = "",
    source: str = "manual",
    corrects_invoice_id: int | None = None,
    pdf: tuple[str, bytes] | None = None,
    actor_user_id: int | None = None,
) -> Invoice:
    """Store a new invoice or credit note with its open amount, and give it a structured payment reference.

    A credit note carries a negative total; when it names the invoice it corrects, its credit is allocated
    to that invoice at once.
    """
    total, currency = _checked(
        session, organisation_id, debtor_id, kind, source, number, issue_date, due_date, total, currency
    )
    number = number.strip()
    open_amount = total if kind == "invoice" else -total
    invoice = Invoice(
        organisation_id=organisation_id,
        debtor_id=debtor_id,
        kind=kind,
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        total=total,
        open_amount=open_amount,
        status="open" if open_amount > ZERO else "paid",
        payment_reference=references.normalise(payment_reference),
        source=source,
        corrects_invoice_id=corrects_invoice_id,
        last_step=first_step(session, organisation_id) if kind == "invoice" and open_amount > ZERO else 0,
    )
    session.add(invoice)
    session.flush()
    if not invoice.payment_reference and kind == "invoice":
        # A reference that came with an imported invoice is kept; otherwise the invoice id makes it unique.
        scheme = session.scalar(select(Organisation.reference_scheme).where(Organisation.id == organisation_id))
        invoice.payment_reference = references.generate(scheme, invoice.id)
    if pdf:
        filename, content = pdf
        invoice.document = InvoiceDocument(filename=filename, content=content)
    events.record(
        session,
        organisation_id,
        EventKind.CREDIT_NOTE_CREATED if kind == "credit_note" else EventKind.INVOICE_CREATED,
        debtor_id=debtor_id,
        invoice_id=invoice.id,
        actor_user_id=actor_user_id,
        number=number,
        total=total,
        currency=currency,
        source=source,
    )
    if kind == "credit_note" and corrects_invoice_id:
        _apply_credit_note(session, invoice, corrects_invoice_id, actor_user_id)
    return invoice


def _checked(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    kind: str,
    source: str,
    number: str,
    issue_date: date,
    due_date: date | None,
    total,
    currency: str,
) -> tuple[Decimal, str]:
    """What a new document says, checked: its total (a credit note's made negative) and currency code, or an
    InvoiceError saying what to change."""
    if kind not in INVOICE_KINDS:
        raise InvoiceError(f"unknown kind {kind}")
    if source not in INVOICE_SOURCES:
        raise InvoiceError(f"unknown source {source}")
    if not number.strip():
        raise InvoiceError("an invoice needs a number")
    total = _total(kind, total)
    if kind == "invoice" and due_date is None:
        raise InvoiceError("an invoice needs a due date")
    if due_date is not None and due_date < issue_date:
        raise InvoiceError("the due date is before the issue date")
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvoiceError(f"not a currency code: {currency}")
    debtor = session.get(Debtor, debtor_id)
    if debtor is None or debtor.organisation_id != organisation_id:
        raise InvoiceError("no such debtor")
    duplicate = session.scalar(
        select(Invoice.id).where(
            Invoice.organisation_id == organisation_id, Invoice.kind == kind, Invoice.number == number.strip()
        )
    )
    if duplicate:
        raise InvoiceError(f"{'credit note' if kind == 'credit_note' else 'invoice'} {number.strip()} already exists")
    return total, currency


def _total(kind: str, total) -> Decimal:
    try:
        total = parse_amount(total, allow_negative=True)
    except ValueError as exc:
        raise InvoiceError(str(exc)) from None
    if kind == "invoice" and total < ZERO:
        raise InvoiceError("an invoice total is not negative; enter a credit note instead")
    return -total if kind == "credit_note" and total > ZERO else total  # a credit note is stored negative


def _apply_credit_note(session: Session, credit_note: Invoice, corrects_invoice_id: int, actor_user_id) -> None:
    """A credit note that names the invoice it corrects is allocated to it at once, as far as both go."""
    target = session.get(Invoice, corrects_invoice_id)
    part = min(target.open_amount, credit_note.open_amount) if target is not None else ZERO
    if part > ZERO:  # a settled invoice or a zero credit note: nothing to apply, the link is kept
        try:
            allocate_credit_note(session, credit_note.id, target.id, part, actor_user_id=actor_user_id)
        except LedgerError as exc:
            raise InvoiceError(str(exc)) from None


def update_invoice(
    session: Session,
    organisation_id: int,
    invoice_id: int,
    *,
    number: str,
    issue_date: date,
    due_date: date | None,
    total: Decimal,
    payment_reference: str = "",
    actor_user_id: int | None = None,
) -> Invoice:
    """Correct an invoice's details. The total goes through the ledger, so the open amount follows it."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.organisation_id != organisation_id:
        raise InvoiceError("no such invoice")
    number = number.strip()
    if not number:
        raise InvoiceError("an invoice needs a number")
    if invoice.kind == "invoice" and due_date is None:
        raise InvoiceError("an invoice needs a due date")
    if due_date is not None and due_date < issue_date:
        raise InvoiceError("the due date is before the issue date")
    if number != invoice.number and session.scalar(
        select(Invoice.id).where(
            Invoice.organisation_id == organisation_id, Invoice.kind == invoice.kind, Invoice.number == number
        )
    ):
        raise InvoiceError(f"number {number} is already in use")
    try:
        total = parse_amount(total, allow_negative=True)
        if invoice.kind == "credit_note" and total > ZERO:
            total = -total
        change_total(session, invoice.id, total, actor_user_id=actor_user_id)
    except (LedgerError, ValueError) as exc:
        raise InvoiceError(str(exc)) from None
    invoice.number, invoice.issue_date, invoice.due_date = number, issue_date, due_date
    if payment_reference.strip():
        invoice.payment_reference = references.normalise(payment_reference)
    events.record(
        session,
        organisation_id,
        EventKind.INVOICE_CHANGED,
        debtor_id=invoice.debtor_id,
        invoice_id=invoice.id,
        actor_user_id=actor_user_id,
        number=number,
    )
    return invoice
