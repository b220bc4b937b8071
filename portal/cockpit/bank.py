"""Cockpit: bank statements. Upload one (camt.053 or MT940), see what was booked, and work the reconciliation queue:
match a payment to one or more invoices, or mark it as not a customer payment. Export booked payments for the
books."""

from flask import Response, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.bank import service
from portal.bank.generate import sample_for
from portal.bank.models import QUEUE, BankStatement, BankTransaction
from portal.bank.parse import StatementError
from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.pagination import current_page_number, paginate
from portal.csv_export import csv_response
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.ids import form_ids
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.ledger import exports
from portal.ledger import service as ledger
from portal.tenancy import current_organisation_id, get_or_404, scoped

TABS = {"queue": QUEUE, "booked": ("booked",), "returned": ("returned",), "other": ("ignored", "dismissed")}
MAX_UPLOAD = 50 * 1024 * 1024


@bp.get("/bank")
def bank_index():
    """The queue first (what needs the supplier), then what was booked, returned, or set aside."""
    tab = request.args.get("tab", "queue")
    if tab not in TABS:
        tab = "queue"
    stmt = (
        scoped(BankTransaction)
        .where(BankTransaction.status.in_(TABS[tab]))
        .options(selectinload(BankTransaction.debtor))
        .order_by(BankTransaction.booking_date.desc(), BankTransaction.id.desc())
    )
    page = paginate(db.session, stmt, current_page_number())
    counts = dict(
        db.session.execute(
            scoped(BankTransaction, BankTransaction.status, func.count()).group_by(BankTransaction.status)
        ).all()
    )
    statements = db.session.scalars(
        scoped(BankStatement).order_by(BankStatement.created_at.desc(), BankStatement.id.desc()).limit(10)
    ).all()
    candidates = {
        i.id: i
        for i in db.session.scalars(
            scoped(Invoice).where(Invoice.id.in_({c for (t,) in page.items for c in (t.candidates or [])}))
        )
    }
    return render_template(
        "cockpit/bank/index.html",
        page=page,
        tab=tab,
        counts={key: sum(counts.get(s, 0) for s in statuses) for key, statuses in TABS.items()},
        statements=statements,
        candidates=candidates,
    )


@bp.post("/bank/statements")
@role_required("controller")
def bank_upload():
    """Import a statement now (all or nothing); what was paid leaves the reminder schedule at once."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a statement file (camt.053 XML or MT940).", "error")
        return redirect(url_for("cockpit.bank_index"), 303)
    content = upload.read(MAX_UPLOAD + 1)
    try:
        if len(content) > MAX_UPLOAD:
            raise StatementError(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
        record = service.queue_statement(
            db.session, current_organisation_id(), content, filename=upload.filename, actor_user_id=current_user.id
        )
    except StatementError as exc:
        db.session.rollback()
        flash(f"{upload.filename} was not imported: {exc}.", "error")
        return redirect(url_for("cockpit.bank_index"), 303)
    db.session.commit()
    return redirect(url_for("cockpit.bank_statement", statement_id=record.id), 303)


@bp.get("/bank/statements/<int:statement_id>")
def bank_statement(statement_id: int):
    """An uploaded statement: its progress while the worker imports it (polled), then what became of it."""
    record = get_or_404(BankStatement, statement_id)
    return render_page_or_fragment("cockpit/bank/statement.html", "cockpit/bank/_progress.html", record=record)


def _transaction_page(tx: BankTransaction, error: str = "", status: int = 200):
    debtor_id = tx.debtor_id
    q = (request.args.get("q") or request.form.get("q") or "").strip()
    open_invoices = scoped(Invoice).where(
        Invoice.kind == "invoice", Invoice.status == "open", Invoice.currency == tx.currency
    )
    if q:
        open_invoices = open_invoices.where(or_(Invoice.number.startswith(q), Invoice.payment_reference == q))
    elif tx.candidates:
        # The candidates, and the other open invoices of their debtors (a payment of one debtor's several).
        debtors = select(Invoice.debtor_id).where(Invoice.id.in_(tx.candidates))
        open_invoices = open_invoices.where(
            or_(Invoice.id.in_(tx.candidates), Invoice.debtor_id == debtor_id, Invoice.debtor_id.in_(debtors))
        )
    elif debtor_id:
        open_invoices = open_invoices.where(Invoice.debtor_id == debtor_id)
    else:
        open_invoices = open_invoices.where(Invoice.open_amount == tx.amount)
    invoices = db.session.scalars(
        open_invoices.options(selectinload(Invoice.debtor)).order_by(Invoice.due_date, Invoice.id).limit(50)
    ).all()
    # What each would take of the payment: with interest and costs, its whole claim (what its reminder asked).
    due = ledger.due_now(db.session, list(invoices), tx.booking_date)
    # After a refused match: what was ticked stays ticked (None: the first look, the best suggestion ticked).
    chosen = form_ids(request.form.getlist("invoice_ids")) if request.method == "POST" else None
    response = make_response(
        render_template(
            "cockpit/bank/transaction.html", tx=tx, invoices=invoices, due=due, q=q, error=error, chosen=chosen
        ),
        status,
    )
    if request.method == "POST":
        # A refused match or set-aside shows this page again: the address bar says the page, not the form's
        # action (reloading that would be a GET of a POST-only address).
        response.headers["HX-Push-Url"] = url_for("cockpit.bank_transaction", transaction_id=tx.id, q=q or None)
    return response


@bp.get("/bank/transactions/<int:transaction_id>")
def bank_transaction(transaction_id: int):
    return _transaction_page(get_or_404(BankTransaction, transaction_id))


@bp.post("/bank/transactions/<int:transaction_id>/match")
@role_required("controller")
def bank_match(transaction_id: int):
    tx = get_or_404(BankTransaction, transaction_id)
    ids = form_ids(request.form.getlist("invoice_ids"))
    try:
        payment = service.match_by_hand(
            db.session, current_organisation_id(), tx.id, ids, actor_user_id=current_user.id
        )
    except service.MatchError as exc:
        db.session.rollback()
        return _transaction_page(get_or_404(BankTransaction, transaction_id), str(exc), 422)
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_organisation_id())
    db.session.commit()
    amount = current_app.jinja_env.filters["money"](payment.amount, payment.currency)
    flash(f"{amount} booked for {payment.debtor.name}.", "success")
    return redirect(url_for("cockpit.bank_index"), 303)


@bp.post("/bank/transactions/<int:transaction_id>/dismiss")
@role_required("controller")
def bank_dismiss(transaction_id: int):
    tx = get_or_404(BankTransaction, transaction_id)
    try:
        service.dismiss(
            db.session, current_organisation_id(), tx.id, actor_user_id=current_user.id, why=request.form.get("why", "")
        )
    except service.MatchError as exc:
        db.session.rollback()
        return _transaction_page(get_or_404(BankTransaction, transaction_id), str(exc), 422)
    db.session.commit()
    flash("Set aside: not a customer payment.", "success")
    return redirect(url_for("cockpit.bank_index"), 303)


@bp.get("/bank/sample.xml")
def bank_sample():
    """A camt.053 statement of today paying some of your open invoices, to try the import with."""
    organisation = current_user.organisation
    content = sample_for(db.session, organisation, organisation.today())
    return Response(
        content,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="sample-statement-{organisation.today()}.xml"'},
    )


@bp.get("/bank/export.csv")
def bank_export():
    """Booked payments (all methods) and what each paid, one row per allocation, for the accountant."""
    rows = exports.payment_rows(db.session, current_organisation_id())
    return csv_response("payments.csv", exports.PAYMENTS_HEADER, rows)


@bp.get("/bank/journal.csv")
def bank_journal():
    """Booked payments as double-entry journal lines for the bookkeeping package; each payment balances."""
    return csv_response(
        "journal.csv", exports.JOURNAL_HEADER, exports.journal_lines(db.session, current_organisation_id())
    )
