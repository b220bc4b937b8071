"""What the commands share: finding organisations by the slug given with --org."""

import click
from sqlalchemy import select

from portal.extensions import db
from portal.organisations.models import Organisation

org_option = click.option("--org", "slug", help="organisation slug (default: all)")
required_org_option = click.option("--org", "slug", required=True, help="organisation slug")


def organisation(slug: str) -> Organisation:
    """The organisation with this slug, or a clear error."""
    found = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
    if found is None:
        raise click.ClickException(f"no organisation {slug!r}")
    return found


def organisations(slug: str | None) -> list[Organisation]:
    """The organisation with this slug, or every one when none is given."""
    stmt = select(Organisation).order_by(Organisation.id)
    if slug:
        stmt = stmt.where(Organisation.slug == slug)
    found = db.session.scalars(stmt).all()
    if slug and not found:
        raise click.BadParameter(f"no organisation {slug!r}", param_hint="--org")
    return list(found)
