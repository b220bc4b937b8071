"""Cockpit: what debtors asked of the supplier on their page. Disputes to resolve, promises to pay, invoices they say
they paid, and their messages. Viewers look; controllers resolve disputes and resume reminders."""

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.debtors.models import Debtor
from portal.disputes import service as disputes
from portal.disputes.models import REASON_LABELS, Dispute
from portal.errors import DomainError
from portal.events import Event, EventKind
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.money import MoneyError, parse_typed_amount, sum_by_currency
from portal.promises.models import PaidClaim, Promise
from portal.reminders import schedule
from portal.tenancy import current_organisation_id, get_or_404, scoped
from portal.types import utcnow

HISTORY = 50  # resolved disputes, settled promises, claims and messages shown below what is open
RECENT_MESSAGES_DAYS = 7


def _search() -> str:
    return request.args.get("q", "").strip()[:100]


def _by_debtor(stmt, model, q: str):
    """Narrow a list to debtors whose name contains ``q`` or whose number is ``q``."""
    if not q:
        return stmt
    return stmt.join(Debtor, Debtor.id == model.debtor_id).where(
        func.lower(Debtor.name).contains(q.lower(), autoescape=True) | (Debtor.number == q)
    )


def counts() -> dict[str, int]:
    """What waits for the supplier: open disputes and promises, invoices held on a debtor's word, new messages."""
    today = current_user.organisation.today()
    return {
        "disputes": db.session.scalar(scoped(Dispute, func.count()).where(Dispute.status == "open")),
        "promises": db.session.scalar(scoped(Promise, func.count()).where(Promise.status == "open")),
        "paid": db.session.scalar(
            scoped(Invoice, func.count()).where(
                Invoice.status == "open", Invoice.paid_claim_id.is_not(None), Invoice.hold_until >= today
            )
        ),
        "messages": db.session.scalar(
            scoped(Event, func.count()).where(
                Event.kind == EventKind.DEBTOR_MESSAGE_SENT,
                Event.created_at >= utcnow() - timedelta(days=RECENT_MESSAGES_DAYS),
            )
        ),
    }


@bp.get("/requests")
def requests_index():
    """Disputes: the open ones first, oldest first; then what was resolved lately."""
    q = _search()
    base = _by_debtor(scoped(Dispute), Dispute, q).options(selectinload(Dispute.debtor), selectinload(Dispute.invoice))
    open_disputes = db.session.scalars(base.where(Dispute.status == "open").order_by(Dispute.created_at, Dispute.id))
    resolved = db.session.scalars(
        base.where(Dispute.status != "open").order_by(Dispute.resolved_at.desc(), Dispute.id.desc()).limit(HISTORY)
    )
    return render_template(
        "cockpit/requests/disputes.html",
        open_disputes=list(open_disputes),
        resolved=list(resolved),
        labels=REASON_LABELS,
        counts=counts(),
        q=q,
    )


@bp.get("/requests/disputes/<int:dispute_id>")
def requests_dispute(dispute_id: int):
    """One dispute: the invoice, the debtor's reason and comment, and the three ways to resolve it."""
    return _dispute_page(get_or_404(Dispute, dispute_id))


def _dispute_page(dispute: Dispute, errors: dict | None = None, typed: dict | None = None):
    timeline = db.session.scalars(
        scoped(Event)
        .where(Event.invoice_id == dispute.invoice_id)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(25)
    ).all()
    return render_template(
        "cockpit/requests/dispute.html",
        dispute=dispute,
        invoice=dispute.invoice,
        labels=REASON_LABELS,
        timeline=timeline,
        today=current_user.organisation.today(),
        errors=errors or {},
        typed=typed or {},
        counts=counts(),
    ), (422 if errors else 200)


@bp.post("/requests/disputes/<int:dispute_id>/resolve")
@role_required("controller")
def requests_dispute_resolve(dispute_id: int):
    """Credit, correct or reject a dispute; the debtor is mailed the message."""
    dispute = get_or_404(Dispute, dispute_id)
    resolution = request.form.get("resolution", "")
    typed = {
        "resolution": resolution,
        "amount": request.form.get("amount", ""),
        "message": request.form.get("message", ""),
    }
    amount = None
    if typed["amount"].strip():
        try:
            amount = parse_typed_amount(typed["amount"])
        except MoneyError as exc:
            return _dispute_page(dispute, {"amount": str(exc).capitalize()}, typed)
    try:
        disputes.resolve_dispute(db.session, dispute.id, resolution, typed["message"], current_user.id, amount)
    except DomainError as error:
        db.session.rollback()
        return _dispute_page(dispute, {error.field or "form": str(error)}, typed)
    # The invoice is no longer disputed: its reminders come back at the next planning, rung now.
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_organisation_id())
    db.session.commit()
    told = "the debtor has been mailed" if dispute.debtor.dunning_email else "the debtor has no e-mail address"
    flash(f"Dispute about invoice {dispute.invoice.number}: {resolution}; {told}.", "success")
    return redirect(url_for("cockpit.requests_index"), 303)


@bp.get("/requests/promises")
def requests_promises():
    """Promises to pay: the open ones by date, with what they cover; then those kept, broken or replaced."""
    q = _search()
    base = _by_debtor(scoped(Promise), Promise, q).options(selectinload(Promise.debtor), selectinload(Promise.invoices))
    open_promises = list(
        db.session.scalars(base.where(Promise.status == "open").order_by(Promise.promised_on, Promise.id))
    )
    history = list(
        db.session.scalars(
            base.where(Promise.status != "open").order_by(Promise.resolved_at.desc(), Promise.id.desc()).limit(HISTORY)
        )
    )
    amounts = {
        promise.id: sum_by_currency((i.currency, i.open_amount) for i in promise.invoices if i.status == "open")
        for promise in open_promises
    }
    organisation = current_user.organisation
    return render_template(
        "cockpit/requests/promises.html",
        open_promises=open_promises,
        history=history,
        amounts=amounts,
        grace=timedelta(days=organisation.promise_grace_days),
        today=organisation.today(),
        counts=counts(),
        q=q,
    )


@bp.get("/requests/paid")
def requests_paid():
    """Invoices the debtor says were paid: each claim, its invoices as they stand now, and what to do about them."""
    q = _search()
    claims = db.session.scalars(
        _by_debtor(scoped(PaidClaim), PaidClaim, q)
        .options(selectinload(PaidClaim.debtor), selectinload(PaidClaim.invoices))
        .order_by(PaidClaim.created_at.desc(), PaidClaim.id.desc())
        .limit(HISTORY * 2)
    ).all()
    return render_template(
        "cockpit/requests/paid.html",
        claims=claims,
        today=current_user.organisation.today(),
        counts=counts(),
        q=q,
    )


@bp.post("/requests/paid/<int:invoice_id>/resume")
@role_required("controller")
def requests_paid_resume(invoice_id: int):
    """The money has not come: lift the hold the debtor's claim put on the invoice, so that reminders resume."""
    invoice = get_or_404(Invoice, invoice_id)
    try:
        schedule.set_hold(
            db.session, current_organisation_id(), until=None, invoice_id=invoice.id, actor_user_id=current_user.id
        )
    except schedule.ScheduleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("cockpit.requests_paid"), 303)
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_organisation_id())
    db.session.commit()
    flash(f"Reminders about {invoice.number} resume.", "success")
    return redirect(url_for("cockpit.requests_paid"), 303)


@bp.get("/requests/messages")
def requests_messages():
    """What debtors wrote from their page, newest first (each was also mailed to the organisation)."""
    q = _search()
    messages = db.session.scalars(
        _by_debtor(scoped(Event), Event, q)
        .where(Event.kind == EventKind.DEBTOR_MESSAGE_SENT)
        .options(selectinload(Event.debtor))
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(HISTORY * 2)
    ).all()
    return render_template("cockpit/requests/messages.html", messages=messages, counts=counts(), q=q)
