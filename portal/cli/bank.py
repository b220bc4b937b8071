"""``flask import-statement``: a bank statement booked against open invoices."""

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.bank.parse import StatementError
from portal.bank.service import import_statement as import_file
from portal.cli.common import organisation, required_org_option
from portal.extensions import db
from portal.jobs import enqueue_after_commit


@click.command("import-statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@required_org_option
@with_appcontext
def import_statement(file: Path, slug: str):
    """Import a bank statement (camt.053 or MT940): book what matches, queue the rest; all or nothing."""
    organisation_id = organisation(slug).id
    try:
        summary = import_file(db.session, organisation_id, file.read_bytes(), filename=file.name)
    except StatementError as exc:
        db.session.rollback()
        click.echo(f"refused {file}: {exc}; nothing imported", err=True)
        raise SystemExit(1) from None
    # What was paid leaves the reminder schedule now rather than at the clock's next planning run.
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", organisation_id)
    db.session.commit()
    if summary.known:
        click.echo(f"{summary.known} of the {summary.entries} transactions were imported before: left alone")
    click.echo(summary.line())
