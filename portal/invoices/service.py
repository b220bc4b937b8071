"""Invoices as a debtor chooses them, and the error every invoice service raises."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import DomainError
from portal.invoices.models import Invoice
from portal.locales import lazy as _l


class InvoiceError(DomainError):
    """Bad invoice data; the message says what to change."""


def chosen_open_invoices(session: Session, organisation_id: int, debtor_id: int, invoice_ids) -> list[Invoice]:
    """The debtor's open invoices among ``invoice_ids`` (from a form), oldest due first; anything else is an error
    the debtor can act on, in the language of the page that shows it."""
    try:
        ids = sorted({int(i) for i in invoice_ids or ()})
    except (TypeError, ValueError):
        raise InvoiceError(_l("Choose among your open invoices."), "invoice_ids") from None
    if not ids:
        raise InvoiceError(_l("Choose at least one invoice."), "invoice_ids")
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.id.in_(ids),
            Invoice.organisation_id == organisation_id,
            Invoice.debtor_id == debtor_id,
            Invoice.kind == "invoice",
        )
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    if len(invoices) != len(ids):
        raise InvoiceError(_l("Choose among your open invoices."), "invoice_ids")
    paid = [i.number for i in invoices if i.status != "open"]
    if paid:
        raise InvoiceError(_l("Invoice %(numbers)s is already paid.", numbers=", ".join(paid)), "invoice_ids")
    return list(invoices)
