"""The debtor's page: opening a link, then what is owed and how to pay it.

Opening a link puts its id in the session cookie and answers 303 to an address without the token, so that the
token leaves no trace in the browser's history or in a Referer; the link stays usable (mail scanners open links
before the debtor does) until it expires or is revoked.
"""

from flask import current_app, redirect, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.arrangements import service as arrangements
from portal.extensions import db, limiter
from portal.invoices.models import Invoice
from portal.ledger.claims import claims as claims_on
from portal.ledger.models import Payment
from portal.ledger.transfer import transfer_qr
from portal.links import service as links
from portal.organisations.models import METHOD_NAMES
from portal.selfservice import bp
from portal.selfservice.visit import SESSION_KEY, expired, render, visit_or_expired
from portal.types import utcnow

RECENT_PAYMENTS = 10  # the page shows the latest payments, enough to see that one has arrived
# Method names that are words rather than brands: in the debtor's language.
DEBTOR_METHOD_NAMES = {"creditcard": _l("Card"), "banktransfer": _l("Bank transfer (through Mollie)")}


@bp.get("/<token>")
@limiter.limit(lambda: current_app.config["SELFSERVICE_RATE_LIMIT"])
def enter(token: str):
    """Open a link: remember it in the session and go on to the page without the token in the address."""
    link = links.find_link(db.session, token, utcnow())
    if link is None:
        return expired()
    session[SESSION_KEY] = link.id
    session.pop("selfservice_lang", None)
    return redirect(url_for("selfservice.page"), 303)


@bp.get("/")
def page():
    """What the debtor owes this organisation, and how to pay it."""
    visit = visit_or_expired()
    organisation, debtor = visit.organisation, visit.debtor
    documents = db.session.scalars(
        select(Invoice)
        .where(
            Invoice.organisation_id == organisation.id,
            Invoice.debtor_id == debtor.id,
            Invoice.status == "open",
        )
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    invoices = [d for d in documents if d.kind == "invoice"]
    plans = arrangements.live_for(db.session, organisation.id, debtor.id)
    planned = {item.invoice_id for a in plans for item in a.items}
    credits = [d for d in documents if d.kind == "credit_note"]
    claims = claims_on(db.session, organisation, debtor, invoices, organisation.today())
    totals: dict[str, object] = {}
    for invoice in invoices:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + claims[invoice.id].total
    return render(
        "selfservice/page.html",
        visit.language,
        organisation=organisation,
        debtor=debtor,
        invoices=invoices,
        credits=credits,
        payments=db.session.scalars(
            select(Payment)
            .where(Payment.organisation_id == organisation.id, Payment.debtor_id == debtor.id)
            .order_by(Payment.received_on.desc(), Payment.id.desc())
            .limit(RECENT_PAYMENTS)
        ).all(),
        totals=totals,
        today=organisation.today(),
        # Online payment needs the organisation's own Mollie key; the key itself never reaches a template.
        can_pay=bool(organisation.mollie_api_key),
        claims=claims,
        transfer_qr=transfer_qr(organisation, invoices, {i: c.total for i, c in claims.items()}),
        plans=[(a, arrangements.progress(a, organisation.today())) for a in plans],
        in_plan={item.invoice_id for a in plans if a.status == "active" for item in a.items},
        # Only with something a plan could take (open, not disputed, not in a plan already).
        can_propose=any(i.disputed_at is None and i.id not in planned for i in invoices)
        and not arrangements.proposal_refused(db.session, organisation, debtor, organisation.today()),
        method_names=[DEBTOR_METHOD_NAMES.get(m, METHOD_NAMES[m]) for m in organisation.offered_methods],
    )
