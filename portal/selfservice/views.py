"""The debtor's self-service page. No account: the link in a reminder is the key.

Opening a link puts its id in the session cookie and answers 303 to an address without the token, so that the
token leaves no trace in the browser's history or in a Referer; the link stays usable (mail scanners open links
before the debtor does) until it expires or is revoked. Every page here is private: no-referrer, no-store.
"""

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from sqlalchemy import select

from portal.debtors.models import Debtor
from portal.extensions import db, limiter
from portal.invoices.models import Invoice
from portal.organisations.models import Organisation
from portal.selfservice import service
from portal.selfservice.models import AccessLink
from portal.types import utcnow

bp = Blueprint("selfservice", __name__, url_prefix="/s")
SESSION_KEY = "selfservice_link"

# The page speaks the debtor's language (or the one chosen on it); the cockpit's English stays where it is.
TEXTS = {
    "en": {
        "title": "Your invoices",
        "open": "Open invoices",
        "invoice": "Invoice",
        "date": "Date",
        "due": "Due",
        "amount": "To pay",
        "late": "overdue",
        "nothing": "Nothing is open. Thank you!",
        "credit": "Credit in your favour",
        "transfer": "Pay by bank transfer to {iban} in the name of {name}, quoting the payment reference.",
        "reference": "Reference",
        "total": "Total open",
        "expired_title": "This link no longer works",
        "expired": "The link has expired or was replaced. The latest reminder you received has a link that works; "
        "or contact {name}.",
        "switch": "Nederlands",
    },
    "nl": {
        "title": "Uw facturen",
        "open": "Openstaande facturen",
        "invoice": "Factuur",
        "date": "Datum",
        "due": "Vervaldatum",
        "amount": "Te betalen",
        "late": "vervallen",
        "nothing": "Er staat niets open. Dank u wel!",
        "credit": "Tegoed in uw voordeel",
        "transfer": "Betaal per overboeking naar {iban} ten name van {name}, onder vermelding van het "
        "betalingskenmerk.",
        "reference": "Kenmerk",
        "total": "Totaal open",
        "expired_title": "Deze link werkt niet meer",
        "expired": "De link is verlopen of vervangen. De laatste herinnering die u ontving heeft een werkende link; "
        "of neem contact op met {name}.",
        "switch": "English",
    },
}


@bp.after_request
def private(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _language(debtor: Debtor | None) -> str:
    chosen = request.args.get("lang") or session.get("selfservice_lang")
    if chosen in TEXTS:
        session["selfservice_lang"] = chosen
        return chosen
    return debtor.language if debtor is not None and debtor.language in TEXTS else "nl"


def _expired(organisation_name: str = ""):
    language = _language(None)
    texts = TEXTS[language]
    return render_template("selfservice/expired.html", t=texts, name=organisation_name or "the supplier"), 404


@bp.get("/<token>")
@limiter.limit(lambda: current_app.config["SELFSERVICE_RATE_LIMIT"])
def enter(token: str):
    """Open a link: remember it in the session and go on to the page without the token in the address."""
    link = service.find_link(db.session, token, utcnow())
    if link is None:
        return _expired()
    session[SESSION_KEY] = link.id
    session.pop("selfservice_lang", None)
    return redirect(url_for("selfservice.page"), 303)


@bp.get("/")
def page():
    """What the debtor owes this organisation, and how to pay it."""
    link = db.session.get(AccessLink, session.get(SESSION_KEY) or 0)
    if link is None or not service.usable(link, utcnow()):
        session.pop(SESSION_KEY, None)
        return _expired()
    organisation = db.session.get(Organisation, link.organisation_id)
    debtor = db.session.get(Debtor, link.debtor_id)
    language = _language(debtor)
    # Only this debtor's documents of this organisation: the link's own ids, never anything from the request.
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
    credits = [d for d in documents if d.kind == "credit_note"]
    totals: dict[str, object] = {}
    for invoice in invoices:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.open_amount
    with force_locale("nl_NL" if language == "nl" else "en_GB"):  # amounts and dates as the page's language writes them
        return render_template(
            "selfservice/page.html",
            t=TEXTS[language],
            language=language,
            other="en" if language == "nl" else "nl",
            organisation=organisation,
            debtor=debtor,
            invoices=invoices,
            credits=credits,
            totals=totals,
            today=organisation.today(),
        )
