"""Cockpit: debtors - list, detail with invoices and timeline, create and edit, payments and credit notes."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased, selectinload, undefer
from wtforms.fields.choices import SelectChoice

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.forms import CreditNoteForm, DebtorForm, PaymentForm, WaiverForm
from portal.cockpit.pagination import current_page_number, paginate
from portal.cockpit.reminders import upcoming_for
from portal.csv_export import csv_response
from portal.debtors import service as debtors
from portal.debtors.models import Debtor
from portal.events import Event
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.ids import form_ids
from portal.invoices.models import Invoice
from portal.invoices.service import InvoiceError
from portal.law import service as law
from portal.law.service import PARTS
from portal.ledger import queries
from portal.ledger.invoices import create_invoice
from portal.ledger.models import DebtorBalance
from portal.ledger.service import LedgerError, debtor_credit, record_payment
from portal.reminders.behaviour import effective_scenario
from portal.scenarios.models import Scenario
from portal.tenancy import current_organisation_id, get_or_404, scoped

WAIVED = {"costs": "Collection costs", "interest": "Statutory interest"}

SORTS = {
    "name": (Debtor.name.asc(), Debtor.id.asc()),
    "-name": (Debtor.name.desc(), Debtor.id.desc()),
    "number": (Debtor.number.asc(), Debtor.id.asc()),
    "-created": (Debtor.created_at.desc(), Debtor.id.desc()),
}


def _debtor_search():
    q = request.args.get("q", "").strip()
    sort = request.args.get("sort", "name")
    stmt = scoped(Debtor)
    if sort == "-open":
        # Owing most first, in the home currency, from the trigger-kept balances.
        balance = aliased(DebtorBalance)
        stmt = stmt.outerjoin(
            balance,
            (balance.debtor_id == Debtor.id) & (balance.currency == current_user.organisation.home_currency),
        ).order_by(func.coalesce(balance.open_amount, 0).desc(), Debtor.id)
    q = q[:100]
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Debtor.name).like(pattern, escape="\\"),
                Debtor.number == q,
                func.lower(Debtor.email).like(pattern, escape="\\"),
            )
        )
    if sort == "-open":
        return stmt, q, sort
    return stmt.order_by(*SORTS.get(sort, SORTS["name"])), q, sort if sort in SORTS else "name"


@bp.get("/debtors")
def debtors_index():
    """Debtors: search, sort, page; each with what it owes."""
    stmt, q, sort = _debtor_search()
    page = paginate(db.session, stmt, current_page_number())
    today = current_user.organisation.today()
    owed = queries.balances(db.session, current_organisation_id(), [row[0].id for row in page.items], today)
    return render_page_or_fragment(
        "cockpit/debtors/index.html", "cockpit/debtors/_rows.html", page=page, q=q, sort=sort, owed=owed
    )


@bp.get("/debtors.csv")
def debtors_csv():
    """The current debtor list as CSV."""
    stmt, _, _ = _debtor_search()

    def rows():
        for debtor in db.session.scalars(stmt.options(selectinload(Debtor.contacts)).execution_options(yield_per=2000)):
            yield [
                debtor.number,
                debtor.name,
                debtor.kind,
                debtor.email,
                debtor.phone,
                debtor.city,
                debtor.country,
                debtor.dunning_email,
            ]

    return csv_response(
        "debtors.csv", ["number", "name", "kind", "email", "phone", "city", "country", "dunning_email"], rows()
    )


@bp.get("/debtors/new")
@role_required("controller")
def debtor_new():
    """The form for a new debtor."""
    return render_template("cockpit/debtors/form.html", form=DebtorForm(), debtor=None)


@bp.post("/debtors/new")
@role_required("controller")
def debtor_create():
    """Create the debtor."""
    form = DebtorForm()
    if form.validate_on_submit():
        try:
            debtor = debtors.create_debtor(
                db.session,
                current_organisation_id(),
                contacts=form.contacts(),
                actor_user_id=current_user.id,
                **form.details(),
            )
        except debtors.DebtorError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"{debtor.name} added.", "success")
            return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)
    return render_template("cockpit/debtors/form.html", form=form, debtor=None), 422


@bp.get("/debtors/<int:debtor_id>")
def debtor_detail(debtor_id: int):
    """One debtor: contacts, balance, invoices and timeline."""
    return render_template("cockpit/debtors/detail.html", **_detail(get_or_404(Debtor, debtor_id)))


def _detail(debtor: Debtor, **forms) -> dict:
    """What the debtor's page shows; ``forms`` replaces a form that comes back with its errors."""
    organisation = current_user.organisation
    today = organisation.today()
    show = request.args.get("show", "open")
    invoices = db.session.execute(
        queries.invoice_list(
            organisation.id, today, status=show if show in queries.STATUS_FILTERS else "open", debtor_id=debtor.id
        )
        .options(undefer(Invoice.in_running_plan))  # the plan badge: in the one query, not one per row
        .limit(200)
    ).all()
    timeline = db.session.scalars(
        scoped(Event).where(Event.debtor_id == debtor.id).order_by(Event.created_at.desc(), Event.id.desc()).limit(25)
    ).all()
    return {
        "debtor": debtor,
        "today": today,
        "show": show,
        "invoices": invoices,
        "owed": queries.balances(db.session, organisation.id, [debtor.id], today).get(debtor.id, []),
        "credit": debtor_credit(db.session, organisation.id, debtor.id),
        "timeline": timeline,
        "scenario": _scenario(debtor, today),
        "upcoming": upcoming_for(debtor_id=debtor.id),
        "payment_form": PaymentForm(currency=organisation.home_currency, received_on=today),
        "credit_form": _credit_form(debtor, today),
        "law_profile": organisation.law_profile(debtor.kind),
        "waiver_forms": {part: WaiverForm(prefix=part) for part in PARTS} | forms.pop("waiver_forms", {}),
        **forms,
    }


@bp.get("/debtors/<int:debtor_id>/edit")
@role_required("controller")
def debtor_edit(debtor_id: int):
    """The form to change a debtor."""
    debtor = get_or_404(Debtor, debtor_id)
    form = DebtorForm(obj=debtor)
    form.fill_contacts(debtor)
    return render_template("cockpit/debtors/form.html", form=form, debtor=debtor)


@bp.post("/debtors/<int:debtor_id>/edit")
@role_required("controller")
def debtor_update(debtor_id: int):
    """Save the debtor's changes."""
    debtor = get_or_404(Debtor, debtor_id)
    form = DebtorForm()
    if form.validate_on_submit():
        try:
            debtors.update_debtor(
                db.session,
                current_organisation_id(),
                debtor.id,
                contacts=form.contacts(),
                actor_user_id=current_user.id,
                **form.details(),
            )
        except debtors.DebtorError as exc:
            db.session.rollback()
            form.number.errors.append(str(exc))
        else:
            db.session.commit()
            flash("Debtor saved.", "success")
            return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)
    return render_template("cockpit/debtors/form.html", form=form, debtor=debtor), 422


@bp.post("/debtors/<int:debtor_id>/payments")
@role_required("controller")
def debtor_payment(debtor_id: int):
    """Record a payment received by hand, allocated to the chosen invoices or oldest first."""
    debtor = get_or_404(Debtor, debtor_id)
    form = PaymentForm()
    chosen = form_ids(request.form.getlist("invoice_id"))
    if form.validate_on_submit():
        targets = db.session.scalars(
            scoped(Invoice)
            .where(Invoice.id.in_(chosen), Invoice.debtor_id == debtor.id, Invoice.status == "open")
            .order_by(Invoice.due_date)
        ).all()
        if chosen and not targets:
            flash("The payment was not recorded: the ticked invoices are not open for this debtor.", "error")
            return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)
        try:
            allocations, left = [], form.amount.data
            for invoice in targets:
                part = min(left, invoice.open_amount)
                if part > 0:
                    allocations.append((invoice.id, part))
                    left -= part
            payment = record_payment(
                db.session,
                current_organisation_id(),
                debtor.id,
                form.amount.data,
                form.currency.data,
                form.received_on.data,
                method="manual",
                reference=form.reference.data or "",
                allocations=allocations or None,
                auto_allocate=not chosen,
                actor_user_id=current_user.id,
            )
        except LedgerError as exc:
            db.session.rollback()
            flash(f"The payment was not recorded: {exc}.", "error")
        else:
            db.session.commit()
            note = f" {payment.unallocated_amount} stays as credit." if payment.unallocated_amount else ""
            flash(f"Payment of {payment.amount} {payment.currency} recorded.{note}", "success")
            return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)
    else:
        flash("The payment was not recorded: " + _errors(form), "error")
    return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)


@bp.post("/debtors/<int:debtor_id>/credit-notes")
@role_required("controller")
def debtor_credit_note(debtor_id: int):
    """Enter a credit note and apply it to the invoice it corrects."""
    debtor = get_or_404(Debtor, debtor_id)
    today = current_user.organisation.today()
    form = _credit_form(debtor, today)
    if form.validate_on_submit():
        target = get_or_404(Invoice, form.corrects_invoice_id.data) if form.corrects_invoice_id.data else None
        try:
            create_invoice(
                db.session,
                current_organisation_id(),
                debtor.id,
                kind="credit_note",
                number=form.number.data,
                issue_date=form.issue_date.data,
                total=form.total.data,
                currency=target.currency if target else current_user.organisation.home_currency,
                corrects_invoice_id=target.id if target else None,
                actor_user_id=current_user.id,
            )
        except InvoiceError as exc:
            db.session.rollback()
            flash(f"The credit note was not saved: {exc}.", "error")
        else:
            db.session.commit()
            flash(f"Credit note {form.number.data} saved.", "success")
    else:
        flash("The credit note was not saved: " + _errors(form), "error")
    return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)


@bp.post("/debtors/<int:debtor_id>/waive")
@role_required("controller")
def debtor_waive(debtor_id: int):
    """Stop claiming collection costs or statutory interest from this debtor, for the reason given."""
    debtor = get_or_404(Debtor, debtor_id)
    part = _part()
    form = WaiverForm(prefix=part)
    if form.validate_on_submit():
        try:
            law.waive(db.session, current_organisation_id(), debtor.id, part, form.reason.data, current_user.id)
        except law.LawError as exc:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"{debtor.name}: {WAIVED[part].lower()} waived.", "success")
            return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)
    return render_template("cockpit/debtors/detail.html", **_detail(debtor, waiver_forms={part: form})), 422


@bp.post("/debtors/<int:debtor_id>/claim")
@role_required("controller")
def debtor_claim(debtor_id: int):
    """Claim collection costs or statutory interest from this debtor again."""
    debtor = get_or_404(Debtor, debtor_id)
    part = _part()
    law.unwaive(db.session, current_organisation_id(), debtor.id, part, current_user.id)
    db.session.commit()
    flash(f"{debtor.name}: {WAIVED[part].lower()} claimed again.", "success")
    return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id), 303)


def _part() -> str:
    """Which part a waiver form is about; anything else is a request no page of ours makes."""
    part = request.form.get("part", "")
    if part not in PARTS:
        abort(400)
    return part


def _scenario(debtor: Debtor, today):
    """The scenario the debtor's reminders follow, or None while the organisation has none (a GET adds nothing)."""
    if db.session.scalar(scoped(Scenario, Scenario.id).limit(1)) is None:
        return None
    return effective_scenario(db.session, debtor, today)


def _credit_form(debtor: Debtor, today) -> CreditNoteForm:
    form = CreditNoteForm(issue_date=today)
    open_invoices = db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.open_amount, Invoice.currency)
        .where(
            Invoice.organisation_id == debtor.organisation_id,
            Invoice.debtor_id == debtor.id,
            Invoice.kind == "invoice",
            Invoice.status == "open",
        )
        .order_by(Invoice.due_date)
    ).all()
    form.corrects_invoice_id.choices = [SelectChoice(0, "None: keep it as credit")] + [
        SelectChoice(row.id, f"{row.number} ({row.open_amount} {row.currency} open)") for row in open_invoices
    ]
    return form


def _errors(form) -> str:
    text = "; ".join(f"{form[name].label.text}: {' '.join(errs)}" for name, errs in form.errors.items())
    return text if text.endswith(".") else text + "."
