"""A new link by mail, asked for on the expired-link page.

The answer never tells whether the address is known: the same redirect and page either way, and no sooner than
ANSWER_SECONDS after the request came in, so that the time taken to find debtors and queue their mails does not
tell either. The mails themselves go out from the outbox, after the commit.
"""

import time

from flask import current_app, redirect, request, url_for
from flask_limiter.util import get_remote_address

from portal.extensions import db, limiter
from portal.links import service as links
from portal.selfservice import bp
from portal.selfservice.visit import _language, render
from portal.types import utcnow

# Per address and client: enough for a typo and a second try, too few to probe addresses or fill a mailbox.
PER_ADDRESS_LIMIT = "5 per hour"
# Per client whatever the addresses, so that one client cannot try address after address.
PER_CLIENT_LIMIT = "30 per hour"
# Per address whatever the clients, so that many clients together cannot fill a debtor's mailbox either.
PER_ADDRESS_DAILY_LIMIT = "10 per day"
# Longer than finding a few debtors and queueing their mails takes; tests lower it.
ANSWER_SECONDS = 0.4


def _address() -> str:
    return request.form.get("email", "").strip().lower()[:254]


def _address_and_client() -> str:
    return f"{get_remote_address()}|{_address()}"


@bp.get("/new-link")
def link_requested():
    """What the debtor sees after asking for a new link: the same whether the address is known or not."""
    return render("selfservice/expired.html", _language(None), organisation=None, requested=True)


@bp.post("/new-link")
@limiter.limit(PER_CLIENT_LIMIT)
@limiter.limit(PER_ADDRESS_LIMIT, key_func=_address_and_client)
@limiter.limit(PER_ADDRESS_DAILY_LIMIT, key_func=_address)
def request_link():
    """Mail a new link to each debtor this address belongs to, and answer the same either way."""
    started = time.monotonic()
    language = _language(None)
    address = _address()
    if "@" not in address or any(c.isspace() for c in address):
        return render("selfservice/expired.html", language, 422, organisation=None, address_error=True)
    config = current_app.config
    mailed = links.mail_fresh_link(db.session, address, config["PUBLIC_BASE_URL"], config["MAIL_FROM"], utcnow())
    db.session.commit()
    current_app.logger.info("new self-service link asked for: %d mailed", mailed)  # never the address
    time.sleep(max(0.0, ANSWER_SECONDS - (time.monotonic() - started)))
    return redirect(url_for("selfservice.link_requested", lang=language), 303)
