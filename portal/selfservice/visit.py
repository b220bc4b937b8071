"""Who is looking at a self-service page: the visit a session's link opens, and the page rendered in its language.

Every route finds the debtor the same way, through ``current()`` or ``visit_or_expired()``: from the session's link,
never from an id in the request. Every page here is private: no-referrer, no-store.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, current_app, make_response, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.debtors.models import Debtor
from portal.extensions import db
from portal.ids import parse_id
from portal.invoices.models import Invoice
from portal.links import service as links
from portal.links.models import AccessLink
from portal.locales import DEBTOR_LANGUAGES, debtor_language, in_debtor_language
from portal.organisations.models import Organisation
from portal.security import CSP
from portal.selfservice import bp
from portal.types import utcnow

# A form field's "too long" message, in the page's language.
TOO_LONG = _l("At most %(max)d characters, please.")

SESSION_KEY = "selfservice_link"
MOLLIE_CHECKOUT = "https://www.mollie.com"  # where Mollie's hosted checkout lives


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


def page_locale(visit: Visit):
    """Form messages and flashes in the page's language: they are worked out here, not when the page renders."""
    return in_debtor_language(visit.language)


def open_invoices(visit: Visit) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.organisation_id == visit.organisation.id,
                Invoice.debtor_id == visit.debtor.id,
                Invoice.kind == "invoice",
                Invoice.status == "open",
            )
            .order_by(Invoice.due_date, Invoice.id)
        )
    )


def checked_ids(visit: Visit, values: list[str]) -> list[int]:
    """Invoice ids from the request, each one of this debtor's (else 404, whatever else is wrong with it)."""
    ids = []
    for value in values:
        invoice_id = parse_id(value)
        if invoice_id is None:
            abort(404)
        ids.append(visit.invoice(invoice_id).id)
    return ids


def pay_limit() -> str:
    """How often one link may start a payment (SELFSERVICE_PAY_RATE_LIMIT): each start is a call to Mollie."""
    return current_app.config["SELFSERVICE_PAY_RATE_LIMIT"]


def per_link() -> str:
    # Per link, not per address: one office behind one address may hold many debtors' links.
    return f"pay:{session.get(SESSION_KEY)}"
