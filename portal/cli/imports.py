"""``flask import-invoices``: a CSV or UBL file of invoices, all or nothing."""

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.cli.common import organisation, required_org_option
from portal.extensions import db
from portal.imports.result import ImportRefused
from portal.imports.service import import_file


def _mapping(mappings: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for item in mappings:
        field, sep, header = item.partition("=")
        if not sep or not field.strip():
            raise click.BadParameter(f"{item!r} is not FIELD=HEADER", param_hint="--mapping")
        mapping[field.strip()] = header.strip()
    return mapping


@click.command("import-invoices")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@required_org_option
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    metavar="FIELD=HEADER",
    help="CSV column for a field, e.g. --mapping number=Factuurnummer (repeatable; remembered for next time)",
)
@with_appcontext
def import_invoices(file: Path, slug: str, mappings: tuple[str, ...]):
    """Import invoices and credit notes from a CSV or UBL file, all or nothing; exit 1 on any bad row."""
    mapping = _mapping(mappings)
    organisation_id = organisation(slug).id
    try:
        result = import_file(db.session, organisation_id, file.name, file.read_bytes(), mapping=mapping or None)
    except ImportRefused as exc:
        db.session.rollback()
        for error in exc.errors:
            click.echo(str(error), err=True)
        count = getattr(exc, "error_count", len(exc.errors))
        click.echo(f"refused {file}: {count} error(s), nothing imported", err=True)
        raise SystemExit(1) from None
    db.session.commit()
    click.echo(f"imported {file}: {result.summary()}")
