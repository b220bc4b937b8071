"""Flask CLI commands: ``flask seed-demo``, ``flask ledger-check``."""

import click
from flask import Flask
from sqlalchemy import select

from portal.extensions import db


def register(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Create the demo organisation "Demo B.V." (login demo@duly.test / demo)."""
        from portal.demo import DEMO_LOGIN, seed_demo

        organisation = seed_demo(db.session)
        db.session.commit()
        click.echo(
            f"demo organisation {organisation.name} ({organisation.slug}); login {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}"
        )

    @app.cli.command("ledger-check")
    @click.option("--org", "slug", help="organisation slug (default: all)")
    def ledger_check_command(slug: str | None):
        """Recompute open amounts from allocations; exit 1 on any difference."""
        from portal.ledger.service import ledger_discrepancies
        from portal.organisations.models import Organisation

        stmt = select(Organisation)
        if slug:
            stmt = stmt.where(Organisation.slug == slug)
        problems = 0
        for organisation in db.session.scalars(stmt):
            for line in ledger_discrepancies(db.session, organisation.id):
                problems += 1
                click.echo(f"{organisation.slug}: {line}")
        click.echo(f"ledger-check: {problems} problem(s)")
        raise SystemExit(1 if problems else 0)
