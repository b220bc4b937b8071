"""Flask CLI commands: ``flask seed-demo``, ``flask ledger-check``, ``flask import-invoices``,
``flask import-statement``, the reminder engine's and the self-service links'."""

from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from portal.extensions import db


def register(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--debtors", type=click.IntRange(min=1), help="bulk data: this many debtors (with --invoices)")
    @click.option("--invoices", type=click.IntRange(min=0), help="bulk data: this many invoices")
    @click.option("--org", "slug", default="bench", show_default=True, help="bulk data: the organisation's slug")
    def seed_demo_command(debtors: int | None, invoices: int | None, slug: str):
        """Create the demo organisation "Demo B.V." (login demo@duly.test / demo), or with --debtors and --invoices
        a bulk organisation for benchmarks (login owner@SLUG.duly.test / bench)."""
        import time

        from portal.demo import DEMO_LOGIN, seed_demo
        from portal.organisations.models import Organisation

        if debtors is None and invoices is None:
            organisation = seed_demo(db.session)
            db.session.commit()
            click.echo(
                f"demo organisation {organisation.name} ({organisation.slug}); login {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}"
            )
            return
        from portal.bulk_seed import seed_bulk

        if db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
            raise click.ClickException(f"organisation {slug} exists already; choose another --org")
        started = time.perf_counter()
        seed_bulk(db.session, slug=slug, debtors=debtors or 1, invoices=invoices or 0)
        db.session.commit()
        click.echo(
            f"bulk organisation {slug}: {debtors or 1} debtors, {invoices or 0} invoices in "
            f"{time.perf_counter() - started:.0f} s; login owner@{slug}.duly.test / bench"
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

    @app.cli.command("import-invoices")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--org", "slug", required=True, help="organisation slug")
    @click.option(
        "--mapping",
        "mappings",
        multiple=True,
        metavar="FIELD=HEADER",
        help="CSV column for a field, e.g. --mapping number=Factuurnummer (repeatable; remembered for next time)",
    )
    def import_invoices_command(file: Path, slug: str, mappings: tuple[str, ...]):
        """Import invoices and credit notes from a CSV or UBL file, all or nothing; exit 1 on any bad row."""
        from portal.imports.result import ImportRefused
        from portal.imports.service import import_file
        from portal.organisations.models import Organisation

        mapping = {}
        for item in mappings:
            field, sep, header = item.partition("=")
            if not sep or not field.strip():
                raise click.BadParameter(f"{item!r} is not FIELD=HEADER", param_hint="--mapping")
            mapping[field.strip()] = header.strip()
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
        if organisation is None:
            raise click.ClickException(f"no organisation {slug!r}")
        try:
            result = import_file(db.session, organisation.id, file.name, file.read_bytes(), mapping=mapping or None)
        except ImportRefused as exc:
            db.session.rollback()
            for error in exc.errors:
                click.echo(str(error), err=True)
            count = getattr(exc, "error_count", len(exc.errors))
            click.echo(f"refused {file}: {count} error(s), nothing imported", err=True)
            raise SystemExit(1) from None
        db.session.commit()
        click.echo(f"imported {file}: {result.summary()}")

    @app.cli.command("import-statement")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--org", "slug", required=True, help="organisation slug")
    def import_statement_command(file: Path, slug: str):
        """Import a bank statement (camt.053 or MT940): book what matches, queue the rest; all or nothing."""
        from portal.bank.parse import StatementError
        from portal.bank.service import import_statement
        from portal.jobs import enqueue_after_commit
        from portal.organisations.models import Organisation

        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
        if organisation is None:
            raise click.ClickException(f"no organisation {slug!r}")
        try:
            summary = import_statement(db.session, organisation.id, file.read_bytes(), filename=file.name)
        except StatementError as exc:
            db.session.rollback()
            click.echo(f"refused {file}: {exc}; nothing imported", err=True)
            raise SystemExit(1) from None
        # What was paid leaves the reminder schedule now rather than at the clock's next planning run.
        enqueue_after_commit(db.session, "workers.jobs.plan_organisation", organisation.id)
        db.session.commit()
        if summary.known:
            click.echo(f"{summary.known} of the {summary.entries} transactions were imported before: left alone")
        click.echo(summary.line())

    @app.cli.group("law")
    def law_group():
        """Late-payment law: what may be claimed (collection costs, statutory interest)."""

    profile_option = click.option("--profile", type=click.Choice(["nl", "eu"]), required=True, help="legal profile")
    kind_option = click.option("--kind", type=click.Choice(["business", "consumer"]), required=True)

    def _amount(value: str):
        from decimal import Decimal

        from portal.money import MoneyError, parse_typed_amount

        try:
            amount = parse_typed_amount(value)
        except MoneyError as exc:
            raise click.BadParameter(str(exc), param_hint="--principal") from None
        if amount <= Decimal("0"):
            raise click.BadParameter("a positive amount", param_hint="--principal")
        return amount

    @law_group.command("costs")
    @profile_option
    @kind_option
    @click.option("--principal", required=True, help="the principal claimed, e.g. 1234.56")
    @click.option("--vat", is_flag=True, help="add 21% VAT (only where you cannot reclaim it)")
    def law_costs(profile: str, kind: str, principal: str, vat: bool):
        """Print the collection costs for a principal."""
        from decimal import Decimal

        from portal.law.calculate import collection_costs

        costs = collection_costs(profile, kind, _amount(principal), vat_rate=Decimal("21") if vat else None)
        vat_line = f" (of which VAT {costs.vat})" if costs.vat else ""
        click.echo(f"costs {costs.amount}{vat_line}: {costs.why}")

    @law_group.command("interest")
    @profile_option
    @kind_option
    @click.option("--principal", required=True, help="the principal, e.g. 1234.56")
    @click.option("--due", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="the due date")
    @click.option("--paid", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="the day it was paid")
    @click.option("--org", "slug", help="use this organisation's rate tables (default: the published rates)")
    def law_interest(profile: str, kind: str, principal: str, due, paid, slug: str | None):
        """Print the statutory interest: one line per rate period, then the total."""
        from portal.law.calculate import interest, why_none
        from portal.law.rates import interest_rates, table
        from portal.organisations.models import Organisation

        rates = table(profile, kind)
        if slug:
            organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
            if organisation is None:
                raise click.ClickException(f"no organisation {slug!r}")
            rates = interest_rates(db.session, organisation.id, profile, kind)
        try:
            result = interest(rates, _amount(principal), due.date(), paid.date())
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        result.why = why_none(profile, kind) or result.why
        for p in result.periods:
            span = f"{p.start.isoformat()} to {p.end.isoformat()}"
            click.echo(f"{span}: {p.days} days at {p.rate}% on {p.principal}: {p.interest}")
        click.echo(f"total {result.total}" + (f" ({result.why})" if result.why else ""))

    @app.cli.group("reminders")
    def reminders_group():
        """The reminder engine."""

    @reminders_group.command("evaluate")
    @click.option("--org", "slug", help="organisation slug (default: all)")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="evaluate as of this date")
    def reminders_evaluate(slug: str | None, today):
        """Choose each debtor's scenario from its payment behaviour (once per day; safe to repeat)."""
        from portal.organisations.models import Organisation
        from portal.reminders.behaviour import evaluate

        stmt = select(Organisation)
        if slug:
            stmt = stmt.where(Organisation.slug == slug)
        for organisation in db.session.scalars(stmt).all():
            counts = evaluate(db.session, organisation.id, today.date() if today else organisation.today())
            db.session.commit()
            click.echo(f"{organisation.slug}: " + " ".join(f"{k}={v}" for k, v in counts.items()))

    @reminders_group.command("plan")
    @click.option("--org", "slug", help="organisation slug (default: all)")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="plan as of this date")
    def reminders_plan(slug: str | None, today):
        """Plan each debtor's next reminder (safe to repeat: a second run changes nothing)."""
        from portal.organisations.calendar import first_day
        from portal.reminders.planning import plan

        for organisation in _organisations(slug):
            day = today.date() if today else None
            result = plan(db.session, organisation.id, today=day, first=day or first_day(organisation))
            db.session.commit()
            click.echo(f"{organisation.slug}: {result}")

    @reminders_group.command("dispatch")
    @click.option(
        "--now",
        type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d"]),
        help="send what is due by this instant (ISO 8601 with offset; default: now)",
    )
    def reminders_dispatch(now):
        """Send the reminders that are due, each at most once."""
        from portal.reminders.dispatch import dispatch, stop_on_sigterm

        if now is not None and now.tzinfo is None:
            raise click.BadParameter("give an offset, e.g. 2026-06-01T10:00+02:00", param_hint="--now")
        with stop_on_sigterm() as stop:  # SIGTERM or Ctrl-C: finish the reminder being sent, give the rest back
            counts = dispatch(db.session, smtp_url=app.config["SMTP_URL"], config=app.config, now=now, stop=stop)
        click.echo(" ".join(f"{key}={counts.get(key, 0)}" for key in ("sent", "skipped", "failed", "unknown", "todo")))

    @reminders_group.command("dry-run")
    @click.option("--days", type=click.IntRange(1, 60), default=14, show_default=True)
    @click.option("--org", "slug", help="organisation slug (default: all)")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="start on this date")
    def reminders_dry_run(days: int, slug: str | None, today):
        """One line per message the next N days would send. Nothing is sent or kept."""
        from portal.reminders.dryrun import dry_run

        for organisation in _organisations(slug):
            messages = dry_run(db.session, organisation.id, days, today.date() if today else None)
            db.session.rollback()
            click.echo(f"{organisation.slug}: {len(messages)} message(s) in {days} day(s)")
            for message in messages:
                click.echo("  " + message.line())

    def _organisations(slug: str | None):
        from portal.organisations.models import Organisation

        stmt = select(Organisation).order_by(Organisation.id)
        if slug:
            stmt = stmt.where(Organisation.slug == slug)
        found = db.session.scalars(stmt).all()
        if slug and not found:
            raise click.BadParameter(f"no organisation {slug!r}", param_hint="--org")
        return found

    from portal.mollie_sim.cli import register as register_mollie_sim

    register_mollie_sim(app)

    @app.cli.group("debtors")
    def debtors_group():
        """Debtors."""

    @debtors_group.command("link")
    @click.argument("number")
    @click.option("--org", "slug", required=True, help="organisation slug")
    def debtors_link(number: str, slug: str):
        """Print a new self-service URL for the debtor with this NUMBER, to send by hand. It revokes the previous
        hand-made link; links in sent messages stay valid."""
        from portal.debtors.models import Debtor
        from portal.links.service import link_lifetime, manual_link
        from portal.organisations.models import Organisation
        from portal.types import utcnow

        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
        if organisation is None:
            raise click.ClickException(f"no organisation {slug!r}")
        debtor = db.session.scalar(
            select(Debtor).where(Debtor.organisation_id == organisation.id, Debtor.number == number)
        )
        if debtor is None:
            raise click.ClickException(f"no debtor numbered {number!r} in {slug}")
        now = utcnow()
        url = manual_link(db.session, organisation.id, debtor.id, app.config["PUBLIC_BASE_URL"], now, source="cli")
        db.session.commit()
        click.echo(url)  # alone on stdout, for scripts; the rest goes to stderr
        until = (now + link_lifetime(organisation)).astimezone(organisation.tz).date()
        click.echo(f"{debtor.name}: works until {until}; the previous hand-made link no longer works", err=True)
