"""``flask ledger-check``: the ledger's own consistency check."""

import click
from flask.cli import with_appcontext

from portal.cli.common import org_option, organisations
from portal.extensions import db
from portal.ledger.service import ledger_discrepancies


@click.command("ledger-check")
@org_option
@with_appcontext
def ledger_check(slug: str | None):
    """Recompute open amounts from allocations; exit 1 on any difference."""
    problems = 0
    for organisation in organisations(slug):
        for line in ledger_discrepancies(db.session, organisation.id):
            problems += 1
            click.echo(f"{organisation.slug}: {line}")
    click.echo(f"ledger-check: {problems} problem(s)")
    raise SystemExit(1 if problems else 0)
