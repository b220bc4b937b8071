"""``flask law costs`` and ``flask law interest``: what may be claimed, worked out as the reminders do."""

from decimal import Decimal

import click
from flask.cli import AppGroup

from portal.cli.common import organisation
from portal.extensions import db
from portal.law.calculate import collection_costs, interest, why_none
from portal.law.rates import interest_rates, table
from portal.money import MoneyError, parse_typed_amount

law = AppGroup("law", help="Late-payment law: what may be claimed (collection costs, statutory interest).")

profile_option = click.option("--profile", type=click.Choice(["nl", "eu"]), required=True, help="legal profile")
kind_option = click.option("--kind", type=click.Choice(["business", "consumer"]), required=True)


def _amount(value: str) -> Decimal:
    try:
        amount = parse_typed_amount(value)
    except MoneyError as exc:
        raise click.BadParameter(str(exc), param_hint="--principal") from None
    if amount <= Decimal("0"):
        raise click.BadParameter("a positive amount", param_hint="--principal")
    return amount


@law.command("costs")
@profile_option
@kind_option
@click.option("--principal", required=True, help="the principal claimed, e.g. 1234.56")
@click.option("--vat", is_flag=True, help="add 21% VAT (only where you cannot reclaim it)")
def costs(profile: str, kind: str, principal: str, vat: bool):
    """Print the collection costs for a principal."""
    result = collection_costs(profile, kind, _amount(principal), vat_rate=Decimal("21") if vat else None)
    vat_line = f" (of which VAT {result.vat})" if result.vat else ""
    click.echo(f"costs {result.amount}{vat_line}: {result.why}")


@law.command("interest")
@profile_option
@kind_option
@click.option("--principal", required=True, help="the principal, e.g. 1234.56")
@click.option("--due", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="the due date")
@click.option("--paid", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="the day it was paid")
@click.option("--org", "slug", help="use this organisation's rate tables (default: the published rates)")
def statutory_interest(profile: str, kind: str, principal: str, due, paid, slug: str | None):
    """Print the statutory interest: one line per rate period, then the total."""
    rates = interest_rates(db.session, organisation(slug).id, profile, kind) if slug else table(profile, kind)
    try:
        result = interest(rates, _amount(principal), due.date(), paid.date())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    result.why = why_none(profile, kind) or result.why
    for p in result.periods:
        span = f"{p.start.isoformat()} to {p.end.isoformat()}"
        click.echo(f"{span}: {p.days} days at {p.rate}% on {p.principal}: {p.interest}")
    click.echo(f"total {result.total}" + (f" ({result.why})" if result.why else ""))
