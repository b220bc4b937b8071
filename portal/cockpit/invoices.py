"""Cockpit: invoices - filtered list, CSV download, create and edit."""

from io import BytesIO

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.forms import InvoiceEditForm, InvoiceForm
from portal.cockpit.pagination import current_page_number, paginate
from portal.cockpit.reminders import upcoming_for
from portal.csv_export import csv_response
from portal.debtors.models import Debtor
from portal.events import Event
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.invoices.models import Invoice
from portal.invoices.service import InvoiceError
from portal.ledger import queries
from portal.ledger.claims import claims
from portal.ledger.invoices import create_invoice, update_invoice
from portal.tenancy import current_organisation_id, get_or_404, scoped


def _filters() -> dict:
    q = request.args.get("q", "").strip()[:100]
    # Someone typing a number wants that invoice, paid or not: a search covers every status unless one is chosen.
    status = request.args.get("status") or ("all" if q else "open")
    age = request.args.get("age") or None
    return {
        "status": status if status in queries.STATUS_FILTERS else "open",
        "age": age if age in {key for key, *_ in queries.AGE_BUCKETS} else None,
        "q": q,
    }


@bp.get("/invoices")
def invoices_index():
    """Invoices, filtered by status, age or a number or reference."""
    filters = _filters()
    today = current_user.organisation.today()
    stmt = queries.invoice_list(current_organisation_id(), today, **filters)
    page = paginate(db.session, stmt, current_page_number())
    return render_page_or_fragment(
        "cockpit/invoices/index.html",
        "cockpit/invoices/_rows.html",
        page=page,
        today=today,
        buckets=queries.AGE_BUCKETS,
        **filters,
    )


@bp.get("/invoices.csv")
def invoices_csv():
    """The current invoice list as CSV (numbers as numbers, text cells defused)."""
    today = current_user.organisation.today()
    stmt = queries.invoice_list(current_organisation_id(), today, **_filters())

    def rows():
        for invoice, debtor_name in db.session.execute(stmt.execution_options(yield_per=2000)):
            yield [
                invoice.number,
                invoice.kind,
                debtor_name,
                invoice.issue_date.isoformat(),
                invoice.due_date.isoformat() if invoice.due_date else "",
                invoice.currency,
                invoice.total,
                invoice.open_amount,
                invoice.status,
                invoice.payment_reference,
            ]

    header = [
        "number",
        "kind",
        "debtor",
        "issue_date",
        "due_date",
        "currency",
        "total",
        "open_amount",
        "status",
        "payment_reference",
    ]
    return csv_response("invoices.csv", header, rows())


@bp.get("/debtors/<int:debtor_id>/invoices/new")
@role_required("controller")
def invoice_new(debtor_id: int):
    """The form for a new invoice of this debtor."""
    debtor = get_or_404(Debtor, debtor_id)
    organisation = current_user.organisation
    form = InvoiceForm(currency=organisation.home_currency, issue_date=organisation.today())
    return render_template("cockpit/invoices/form.html", form=form, debtor=debtor, invoice=None)


@bp.post("/debtors/<int:debtor_id>/invoices/new")
@role_required("controller")
def invoice_create(debtor_id: int):
    """Create the invoice; it gets a structured payment reference."""
    debtor = get_or_404(Debtor, debtor_id)
    form = InvoiceForm()
    if form.validate_on_submit():
        try:
            invoice = create_invoice(
                db.session,
                current_organisation_id(),
                debtor.id,
                currency=form.currency.data,
                actor_user_id=current_user.id,
                **form.values(),
            )
        except InvoiceError as exc:
            db.session.rollback()
            _attach(form, str(exc))
        else:
            db.session.commit()
            flash(f"Invoice {invoice.number} saved, reference {invoice.payment_reference}.", "success")
            return redirect(url_for("cockpit.invoice_detail", invoice_id=invoice.id), 303)
    return render_template("cockpit/invoices/form.html", form=form, debtor=debtor, invoice=None), 422


@bp.get("/invoices/<int:invoice_id>")
def invoice_detail(invoice_id: int):
    """One invoice: amounts, reference, what paid it, its timeline."""
    invoice = get_or_404(Invoice, invoice_id)
    timeline = db.session.scalars(
        scoped(Event).where(Event.invoice_id == invoice.id).order_by(Event.created_at.desc(), Event.id.desc())
    ).all()
    organisation, debtor = current_user.organisation, invoice.debtor
    claim = None
    if invoice.kind == "invoice":
        claim = claims(db.session, organisation, debtor, [invoice], organisation.today())[invoice.id]
    waived = "; ".join(
        f"{what} waived for this debtor: {reason}"
        for what, on, reason in (
            ("Collection costs", debtor.waive_costs, debtor.waive_costs_reason),
            ("Statutory interest", debtor.waive_interest, debtor.waive_interest_reason),
        )
        if on
    )
    return render_template(
        "cockpit/invoices/detail.html",
        invoice=invoice,
        claim=claim,
        waived=waived,
        timeline=timeline,
        today=current_user.organisation.today(),
        upcoming=upcoming_for(invoice_id=invoice.id),
    )


@bp.get("/invoices/<int:invoice_id>/pdf")
def invoice_pdf(invoice_id: int):
    """The invoice's own PDF, when it came with one."""
    invoice = get_or_404(Invoice, invoice_id)
    if invoice.document is None:
        abort(404)
    # send_file writes a safe Content-Disposition (filename*=UTF-8''...) whatever the invoice number holds.
    return send_file(
        BytesIO(invoice.document.content),
        mimetype="application/pdf",
        download_name=invoice.document.filename or "invoice.pdf",
        as_attachment=False,
    )


@bp.get("/invoices/<int:invoice_id>/edit")
@role_required("controller")
def invoice_edit(invoice_id: int):
    """The form to correct an invoice."""
    invoice = get_or_404(Invoice, invoice_id)
    form = InvoiceEditForm(obj=invoice, total=str(abs(invoice.total)))
    return render_template("cockpit/invoices/form.html", form=form, debtor=invoice.debtor, invoice=invoice)


@bp.post("/invoices/<int:invoice_id>/edit")
@role_required("controller")
def invoice_update(invoice_id: int):
    """Save the corrections; the open amount follows a changed total."""
    invoice = get_or_404(Invoice, invoice_id)
    form = InvoiceEditForm()
    if form.validate_on_submit():
        try:
            update_invoice(
                db.session,
                current_organisation_id(),
                invoice.id,
                actor_user_id=current_user.id,
                **form.values(),
            )
        except InvoiceError as exc:
            db.session.rollback()
            _attach(form, str(exc))
        else:
            db.session.commit()
            flash(f"Invoice {form.number.data} saved.", "success")
            return redirect(url_for("cockpit.invoice_detail", invoice_id=invoice.id), 303)
    return render_template("cockpit/invoices/form.html", form=form, debtor=invoice.debtor, invoice=invoice), 422


def _attach(form: InvoiceForm, message: str) -> None:
    """Put a service's message on the field it is about."""
    field = form.number
    if "due date" in message:
        field = form.due_date
    elif "paid" in message or "amount" in message or "decimals" in message or "negative" in message:
        field = form.total
    field.errors = [*field.errors, message]
