"""The debtor's invoices one by one: the stored PDF, or the invoice as a page when there is none.

The id in the address is only a pointer: Visit.invoice() answers 404 for anything that is not this debtor's of
this organisation, so that ids cannot be walked.
"""

import re
from io import BytesIO
from zoneinfo import ZoneInfo

from flask import request, send_file
from sqlalchemy import select
from sqlalchemy.orm import aliased, joinedload

from portal.arrangements import service as arrangements
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.ledger.claims import claims
from portal.ledger.models import Allocation
from portal.selfservice import bp
from portal.selfservice.visit import render, visit_or_expired

PDF = "application/pdf"


def download_name(invoice: Invoice, pdf: bool) -> str:
    """A filename from the invoice number, safe in any header and on any disk (the stored one came with an
    upload and may hold anything)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", invoice.number).strip(".-")[:80] or "invoice"
    return f"{stem}.pdf" if pdf else stem


@bp.get("/invoices/<int:invoice_id>")
def show_invoice(invoice_id: int):
    """One invoice: its PDF when one is stored, else number, dates, amounts and what was paid or credited."""
    visit = visit_or_expired()
    invoice = visit.invoice(invoice_id)
    document = invoice.document
    if document is not None:
        # Only a PDF is shown in the browser; anything else an upload brought is a download, never rendered here.
        pdf = document.content_type == PDF
        return send_file(
            BytesIO(document.content),
            mimetype=PDF if pdf else "application/octet-stream",
            as_attachment=not pdf or request.args.get("download") == "1",
            download_name=download_name(invoice, pdf),
            etag=False,
            conditional=False,
        )
    return render(
        "selfservice/invoice.html",
        visit.language,
        organisation=visit.organisation,
        debtor=visit.debtor,
        invoice=invoice,
        claim=claims(db.session, visit.organisation, visit.debtor, [invoice], visit.organisation.today())[invoice.id],
        settled=_settled(invoice, visit.organisation.tz),
        today=visit.organisation.today(),
        can_pay=bool(visit.organisation.mollie_api_key),
        in_plan={
            item.invoice_id
            for plan in arrangements.live_for(db.session, visit.organisation.id, visit.debtor.id)
            if plan.status == "active"
            for item in plan.items
        },
    )


def _settled(invoice: Invoice, tz: ZoneInfo) -> list[tuple]:
    """What paid or credited this invoice, or for a credit note which invoices it was used on: (date, what,
    number or None, component, amount), oldest first."""
    credit_note = aliased(Invoice)
    if invoice.is_credit_note:
        rows = db.session.execute(
            select(Allocation, Invoice.number)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(Allocation.organisation_id == invoice.organisation_id, Allocation.credit_note_id == invoice.id)
            .order_by(Allocation.created_at, Allocation.id)
        ).all()
        return [(a.created_at.astimezone(tz).date(), "used", number, a.component, a.amount) for a, number in rows]
    rows = db.session.execute(
        select(Allocation, credit_note.number)
        .outerjoin(credit_note, credit_note.id == Allocation.credit_note_id)
        .where(Allocation.organisation_id == invoice.organisation_id, Allocation.invoice_id == invoice.id)
        .options(joinedload(Allocation.payment))
        .order_by(Allocation.created_at, Allocation.id)
    ).all()
    return [
        (a.payment.received_on, "paid", None, a.component, a.amount)
        if a.payment is not None
        else (a.created_at.astimezone(tz).date(), "credited", number, a.component, a.amount)
        for a, number in rows
    ]
