"""Cockpit: a debtor's self-service links - how many work, revoke them all, make one to pass on, mail one.

A made link's URL is in the response and nowhere else: not in the database (only its hash), not in a flash
message (the session cookie), not in the event.
"""

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.debtors.models import Debtor
from portal.extensions import db
from portal.links import service as links
from portal.tenancy import current_organisation_id, get_or_404
from portal.types import utcnow

KIND_LABELS = {"message": "in sent messages", "manual": "made by hand", "mailed": "mailed"}


@bp.app_template_global("selfservice_links")
def selfservice_links(debtor: Debtor) -> dict[str, int]:
    """The debtor's working links by kind, for the section on the debtor's page (which another module renders)."""
    return links.working_links(db.session, current_organisation_id(), debtor.id, utcnow())


@bp.app_template_global("selfservice_link_labels")
def selfservice_link_labels() -> dict[str, str]:
    return KIND_LABELS


def _back(debtor: Debtor):
    return redirect(url_for("cockpit.debtor_detail", debtor_id=debtor.id, _anchor="selfservice-links"), 303)


@bp.post("/debtors/<int:debtor_id>/links/revoke")
@role_required("controller")
def debtor_links_revoke(debtor_id: int):
    """Every link of the debtor stops working, those in sent messages too."""
    debtor = get_or_404(Debtor, debtor_id)
    if request.form.get("confirm") != "yes":
        flash("Nothing revoked: tick the box to confirm.", "error")
        return _back(debtor)
    count = links.revoke_links(db.session, current_organisation_id(), debtor.id, utcnow(), current_user.id)
    db.session.commit()
    flash(f"{count} self-service link{'' if count == 1 else 's'} of {debtor.name} revoked.", "success")
    return _back(debtor)


@bp.post("/debtors/<int:debtor_id>/links/manual")
@role_required("controller")
def debtor_link_make(debtor_id: int):
    """A new link to pass on by hand, shown once; it replaces the previous hand-made one."""
    debtor = get_or_404(Debtor, debtor_id)
    organisation = current_user.organisation
    now = utcnow()
    url = links.manual_link(
        db.session, organisation.id, debtor.id, current_app.config["PUBLIC_BASE_URL"], now, current_user.id
    )
    db.session.commit()
    expires_on = (now + links.link_lifetime(organisation)).astimezone(organisation.tz).date()
    response = make_response(
        render_template("cockpit/debtors/link_made.html", debtor=debtor, url=url, expires_on=expires_on)
    )
    response.headers["Cache-Control"] = "no-store"  # not in the browser's cache either
    return response


@bp.post("/debtors/<int:debtor_id>/links/mail")
@role_required("controller")
def debtor_link_mail(debtor_id: int):
    """Mail the debtor a new link, to the address reminders go to."""
    debtor = get_or_404(Debtor, debtor_id)
    config = current_app.config
    try:
        message = links.mail_link(
            db.session,
            current_organisation_id(),
            debtor.id,
            config["PUBLIC_BASE_URL"],
            config["MAIL_FROM"],
            utcnow(),
            actor_user_id=current_user.id,
        )
    except links.LinkError as exc:
        db.session.rollback()
        flash(f"No link mailed: {exc}.", "error")
        return _back(debtor)
    to = message.to_address  # read before the commit expires it
    db.session.commit()
    flash(f"A new self-service link is on its way to {to}.", "success")
    return _back(debtor)
