"""The supplier's cockpit: every page needs a signed-in user of the organisation (portal.tenancy scopes every query
to it). Views are thin: parse, call one service, commit, redirect.

One blueprint; its routes live in a module per area, each adding to ``bp``, imported below (the microblog's
pattern). Roles: portal.cockpit.access.
"""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("cockpit", __name__, url_prefix="/cockpit")


@bp.before_request
@login_required
def require_login():
    """Every cockpit page needs a signed-in supplier user."""


from portal.cockpit import (  # noqa: E402, F401 - the routes, once bp exists
    arrangements,
    bank,
    debtors,
    imports,
    invoices,
    law,
    links,
    mailbox,
    overview,
    payments,
    reminders,
    requests,
    scenarios,
    settings,
    team,
)
