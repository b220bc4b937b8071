"""The cockpit's first page: open and overdue totals, the ageing, who owes most and what happened lately."""

from flask import render_template
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from portal.cockpit import bp
from portal.events import Event
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.ledger import queries
from portal.ledger.models import Payment
from portal.money import sum_by_currency
from portal.tenancy import scoped


@bp.get("/")
def overview():
    """Open and overdue totals per currency, and what happened lately."""
    organisation = current_user.organisation
    today = organisation.today()
    ageing = queries.ageing(db.session, organisation.id, today)
    credit = sum_by_currency(
        [
            *db.session.execute(
                scoped(Payment, Payment.currency, func.sum(Payment.unallocated_amount))
                .where(Payment.unallocated_amount > 0)
                .group_by(Payment.currency)
            ),
            *db.session.execute(
                scoped(Invoice, Invoice.currency, func.sum(Invoice.open_amount))
                .where(Invoice.kind == "credit_note", Invoice.status == "open")
                .group_by(Invoice.currency)
            ),
        ]
    )
    recent = db.session.scalars(
        scoped(Event).options(selectinload(Event.debtor)).order_by(Event.created_at.desc(), Event.id.desc()).limit(15)
    )
    return render_template(
        "cockpit/overview.html",
        today=today,
        ageing=ageing,
        top=queries.top_debtors(db.session, organisation.id, today, list(ageing)),
        totals=queries.totals(ageing),
        credit={c: a for c, a in credit.items() if a},
        recent=list(recent),
    )
