"""Cockpit: payments received (Mollie, bank, manual), and Mollie payments still under way or needing a look."""

from flask import render_template, request
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from portal.cockpit import bp
from portal.cockpit.pagination import current_page_number, paginate
from portal.extensions import db
from portal.ledger import service as ledger
from portal.ledger.models import PAYMENT_METHODS, Payment
from portal.organisations.models import METHOD_NAMES
from portal.payments.models import UNFINISHED, MolliePayment, MolliePaymentItem
from portal.tenancy import scoped


@bp.get("/payments")
def payments_index():
    """Money received, newest first, by method; above it what Mollie has not settled or we could not book."""
    method = request.args.get("method", "")
    stmt = scoped(Payment).options(selectinload(Payment.debtor))
    if method in PAYMENT_METHODS:
        stmt = stmt.where(Payment.method == method)
    page = paginate(db.session, stmt.order_by(Payment.received_on.desc(), Payment.id.desc()), current_page_number())
    counts = dict(db.session.execute(scoped(Payment, Payment.method, func.count()).group_by(Payment.method)).all())
    # Flagged (paid at Mollie but not matching our records) and under way: the few the supplier may need to see.
    attention = db.session.scalars(
        scoped(MolliePayment)
        .where(
            (MolliePayment.flag != "")
            | MolliePayment.status.in_(UNFINISHED)
            | ((MolliePayment.status == "paid") & MolliePayment.payment_id.is_(None))
        )
        .options(
            selectinload(MolliePayment.debtor),
            selectinload(MolliePayment.items).selectinload(MolliePaymentItem.invoice),
        )
        .order_by(MolliePayment.created_at.desc())
        .limit(50)
    ).all()
    mollie = {
        mp.payment_id: mp
        for mp in db.session.scalars(
            scoped(MolliePayment).where(MolliePayment.payment_id.in_([p.id for (p,) in page.items]))
        )
    }
    # What each payment on this page paid: invoice numbers, with the costs / interest / principal split where the
    # late-payment law had it split. One query for the page.
    paid_on = ledger.paid_on(db.session, [p.id for (p,) in page.items])
    return render_template(
        "cockpit/payments/index.html",
        paid_on=paid_on,
        page=page,
        method=method,
        methods=PAYMENT_METHODS,
        counts=counts,
        attention=attention,
        mollie=mollie,
        method_names=METHOD_NAMES,
    )
