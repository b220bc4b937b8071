"""``flask debtors link``: a self-service link to hand a debtor yourself."""

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from portal.cli.common import organisation as organisation_by_slug
from portal.cli.common import required_org_option
from portal.debtors.models import Debtor
from portal.extensions import db
from portal.links.service import link_lifetime, manual_link
from portal.types import utcnow

debtors = AppGroup("debtors", help="Debtors.")


@debtors.command("link")
@click.argument("number")
@required_org_option
def link(number: str, slug: str):
    """Print a new self-service URL for the debtor with this NUMBER, to send by hand. It revokes the previous
    hand-made link; links in sent messages stay valid."""
    organisation = organisation_by_slug(slug)
    debtor = db.session.scalar(select(Debtor).where(Debtor.organisation_id == organisation.id, Debtor.number == number))
    if debtor is None:
        raise click.ClickException(f"no debtor numbered {number!r} in {slug}")
    now = utcnow()
    url = manual_link(db.session, organisation.id, debtor.id, current_app.config["PUBLIC_BASE_URL"], now, source="cli")
    db.session.commit()
    click.echo(url)  # alone on stdout, for scripts; the rest goes to stderr
    until = (now + link_lifetime(organisation)).astimezone(organisation.tz).date()
    click.echo(f"{debtor.name}: works until {until}; the previous hand-made link no longer works", err=True)
