"""``flask seed-demo``: the demo organisation, or a bulk one for benchmarks."""

import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.bulk_seed import seed_bulk
from portal.demo import DEMO_LOGIN
from portal.demo import seed_demo as seed
from portal.extensions import db
from portal.organisations.models import Organisation


@click.command("seed-demo")
@click.option("--debtors", type=click.IntRange(min=1), help="bulk data: this many debtors (with --invoices)")
@click.option("--invoices", type=click.IntRange(min=0), help="bulk data: this many invoices")
@click.option("--org", "slug", default="bench", show_default=True, help="bulk data: the organisation's slug")
@with_appcontext
def seed_demo(debtors: int | None, invoices: int | None, slug: str):
    """Create the demo organisation "Demo B.V." (login demo@duly.test / demo), or with --debtors and --invoices
    a bulk organisation for benchmarks (login owner@SLUG.duly.test / bench). Refused when DULY_ENV=production."""
    if current_app.config["ENV_NAME"] == "production":
        # Both make an owner whose password is printed above and in the README.
        raise click.ClickException("seed-demo makes accounts with known passwords: refused when DULY_ENV=production")
    if debtors is None and invoices is None:
        organisation = seed(db.session)
        db.session.commit()
        click.echo(
            f"demo organisation {organisation.name} ({organisation.slug}); login {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}"
        )
        return
    if db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
        raise click.ClickException(f"organisation {slug} exists already; choose another --org")
    started = time.perf_counter()
    seed_bulk(db.session, slug=slug, debtors=debtors or 1, invoices=invoices or 0)
    db.session.commit()
    click.echo(
        f"bulk organisation {slug}: {debtors or 1} debtors, {invoices or 0} invoices in "
        f"{time.perf_counter() - started:.0f} s; login owner@{slug}.duly.test / bench"
    )
