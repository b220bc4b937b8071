"""Paying on the self-service page: the debtor chooses invoices, Mollie's checkout takes the money, and the
return page waits for the webhook. The webhook itself lives in portal.webhooks (no session, no CSRF)."""

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.extensions import db, limiter
from portal.ids import parse_id
from portal.locales import DEBTOR_LOCALES, in_debtor_language
from portal.payments import service
from portal.payments.models import UNFINISHED, MolliePayment
from portal.selfservice import bp
from portal.selfservice.visit import pay_limit, per_link, render, visit_or_expired


def urls() -> service.Urls:
    """Absolute addresses from PUBLIC_BASE_URL, never from the Host header a request could set."""
    return service.Urls(
        base=current_app.config["PUBLIC_BASE_URL"],
        redirect_path=url_for("selfservice.payment_return", mp_id=0).removesuffix("0") + "{id}",
        webhook_path=url_for("webhooks.mollie"),
    )


def _is_checkout(url: str) -> bool:
    """Only send the debtor on to Mollie's checkout: https on mollie.com, or the configured endpoint's own origin
    (the simulator). Anything else in Mollie's answer is not followed."""
    parts = urlsplit(url)
    endpoint = urlsplit(current_app.config["MOLLIE_API_ENDPOINT"])
    if (parts.scheme, parts.netloc) == (endpoint.scheme, endpoint.netloc):
        return True
    host = parts.hostname or ""
    return parts.scheme == "https" and (host == "mollie.com" or host.endswith(".mollie.com"))


@bp.post("/pay")
@limiter.limit(pay_limit, key_func=per_link)
def pay():
    """Start a Mollie payment for the chosen invoices (one, several or all) and go to Mollie's checkout."""
    visit = visit_or_expired()
    invoice_ids = [parse_id(value) for value in request.form.getlist("invoice")]
    if None in invoice_ids:
        abort(404)  # not an id: as if it were one that does not exist
    try:
        mp = service.start(
            db.session,
            visit.organisation,
            visit.debtor,
            invoice_ids,
            urls=urls(),
            endpoint=current_app.config["MOLLIE_API_ENDPOINT"],
            locale=DEBTOR_LOCALES[visit.language],
        )
    except LookupError:
        abort(404)  # an invoice id that is not this debtor's: as if it did not exist
    except service.MollieUnavailable:
        db.session.rollback()
        current_app.logger.warning("Mollie unavailable for organisation %s", visit.organisation.id, exc_info=True)
        with in_debtor_language(visit.language):  # the debtor's language, not the browser's
            flash(_("Online payment is not available right now. Please try again later, or pay by bank transfer."))
        return redirect(url_for("selfservice.page"), 303)
    except service.PaymentError as exc:
        db.session.rollback()
        with in_debtor_language(visit.language):
            flash(str(_PAYMENT_ERRORS.get(str(exc), _l("This cannot be paid online."))), "error")
        return redirect(url_for("selfservice.page"), 303)
    if not _is_checkout(mp.checkout_url):
        current_app.logger.error("Mollie gave an unexpected checkout URL for payment %s", mp.id)
        abort(502)
    return redirect(mp.checkout_url, 303)


# Service messages in English, shown to the debtor in the page's language.
_PAYMENT_ERRORS = {
    "choose at least one invoice": _l("Choose at least one invoice."),
    "these invoices have been paid already": _l("These invoices have been paid already."),
    "invoices in different currencies are paid separately": _l("Invoices in different currencies are paid separately."),
    "online payment is not available": _l("Online payment is not available; please pay by bank transfer."),
}


@bp.get("/payments/<int:mp_id>")
def payment_return(mp_id: int):
    """Where Mollie sends the debtor back: "processing" until the webhook has told us how it ended."""
    visit = visit_or_expired()
    mp = db.session.get(MolliePayment, mp_id)
    if mp is None or mp.organisation_id != visit.organisation.id or mp.debtor_id != visit.debtor.id:
        abort(404)
    template = "selfservice/_payment_status.html" if request.headers.get("HX-Request") else "selfservice/payment.html"
    return render(
        template,
        visit.language,
        organisation=visit.organisation,
        mp=mp,
        waiting=mp.status in UNFINISHED or (mp.status == "paid" and mp.payment_id is None and not mp.flag),
    )
