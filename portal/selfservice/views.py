"""The debtor's self-service page. No account: the link in a reminder is the key.

Opening a link puts its id in the session cookie and answers 303 to an address without the token, so that the
token leaves no trace in the browser's history or in a Referer; the link stays usable (mail scanners open links
before the debtor does) until it expires or is revoked. Every page here is private: no-referrer, no-store.

Other modules add their routes to this blueprint (payments, actions) and use ``current()`` and ``render()`` so
that every route finds the debtor the same way: from the session's link, never from an id in the request.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.arrangements import service as arrangements
from portal.debtors.models import Debtor
from portal.extensions import db, limiter
from portal.invoices.models import Invoice
from portal.ledger.claims import claims as claims_on
from portal.ledger.models import Payment
from portal.ledger.transfer import transfer_qr
from portal.links import service as links
from portal.links.models import AccessLink
from portal.locales import DEBTOR_LANGUAGES, debtor_language, in_debtor_language
from portal.organisations.models import METHOD_NAMES, Organisation
from portal.security import CSP
from portal.types import utcnow

bp = Blueprint("selfservice", __name__, url_prefix="/s")
SESSION_KEY = "selfservice_link"
MOLLIE_CHECKOUT = "https://www.mollie.com"  # where Mollie's hosted checkout lives
RECENT_PAYMENTS = 10  # the page shows the latest payments, enough to see that one has arrived

# Method names that are words rather than brands: in the debtor's language.
DEBTOR_METHOD_NAMES = {"creditcard": _l("Card"), "banktransfer": _l("Bank transfer (through Mollie)")}


@dataclass
class Visit:
    """Who is looking: the link from the session, its organisation and debtor, and the page's language."""

    link: AccessLink
    organisation: Organisation
    debtor: Debtor
    language: str

    def invoice(self, invoice_id: int) -> Invoice:
        """One of this debtor's documents of this organisation, or 404: ids from the request are checked here."""
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None or invoice.organisation_id != self.organisation.id or invoice.debtor_id != self.debtor.id:
            abort(404)
        return invoice


@bp.after_request
def private(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    # The pay form's answer redirects to Mollie's checkout, and browsers hold redirects after a form POST to
    # form-action too: Mollie's origin (or the simulator's) joins 'self' there, and only there.
    checkout = _origin(current_app.config["MOLLIE_API_ENDPOINT"])
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {MOLLIE_CHECKOUT} {checkout}"
    )
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _language(debtor: Debtor | None) -> str:
    chosen = request.args.get("lang") or session.get("selfservice_lang")
    if chosen in DEBTOR_LANGUAGES:
        session["selfservice_lang"] = chosen
        return chosen
    return debtor_language(debtor.language if debtor is not None else None)


def current() -> Visit | None:
    """The visit this session's link opens, or None when there is none or it no longer works."""
    link = db.session.get(AccessLink, session.get(SESSION_KEY) or 0)
    if link is None or not links.usable(link, utcnow()):
        session.pop(SESSION_KEY, None)
        return None
    debtor = db.session.get(Debtor, link.debtor_id)
    return Visit(link, db.session.get(Organisation, link.organisation_id), debtor, _language(debtor))


def render(template: str, language: str, status: int = 200, **context):
    """Render a self-service template in the page's language (Flask-Babel catalogs under portal/translations)."""
    other = "en" if language == "nl" else "nl"
    with in_debtor_language(language):
        body = render_template(template, language=language, other=other, in_other=_in_language(other), **context)
    return body, status


def _in_language(language: str) -> str | None:
    """This page (its query too: the invoice a form is for) in another language; None after a POST, whose page
    holds what was typed and no address to come back to."""
    if request.method != "GET" or request.endpoint is None:
        return None
    args = {key: values for key, values in request.args.to_dict(flat=False).items() if key != "lang"}
    return url_for(request.endpoint, **(request.view_args or {}), **args, lang=language)


def expired(organisation: Organisation | None = None):
    return render("selfservice/expired.html", _language(None), 404, organisation=organisation)


def visit_or_expired() -> Visit:
    """For routes that need a visit: the visit, or the expired page as the response (raised)."""
    visit = current()
    if visit is None:
        abort(make_response(*expired()))
    return visit


@bp.errorhandler(404)
def not_found(error):
    """Another debtor's invoice, a payment that is not theirs, a page that does not exist: the page's own look and
    language, and no hint whether it exists for someone else."""
    visit = current()
    language = visit.language if visit is not None else _language(None)
    organisation = visit.organisation if visit is not None else None
    return render("selfservice/not_found.html", language, 404, organisation=organisation, visit=visit)


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
