"""``flask reminders evaluate|plan|dispatch|dry-run``: the reminder engine by hand, as the clock runs it."""

import click
from flask import current_app
from flask.cli import AppGroup

from portal.cli.common import org_option, organisations
from portal.extensions import db
from portal.organisations.calendar import first_day
from portal.reminders.behaviour import evaluate as evaluate_behaviour
from portal.reminders.dispatch import dispatch as send_due
from portal.reminders.dispatch import stop_on_sigterm
from portal.reminders.dryrun import dry_run as messages_ahead
from portal.reminders.planning import plan as plan_reminders

reminders = AppGroup("reminders", help="The reminder engine.")
today_option = click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="as of this date")


@reminders.command("evaluate")
@org_option
@today_option
def evaluate(slug: str | None, today):
    """Choose each debtor's scenario from its payment behaviour (once per day; safe to repeat)."""
    for organisation in organisations(slug):
        counts = evaluate_behaviour(db.session, organisation.id, today.date() if today else organisation.today())
        db.session.commit()
        click.echo(f"{organisation.slug}: " + " ".join(f"{k}={v}" for k, v in counts.items()))


@reminders.command("plan")
@org_option
@today_option
def plan(slug: str | None, today):
    """Plan each debtor's next reminder (safe to repeat: a second run changes nothing)."""
    for organisation in organisations(slug):
        day = today.date() if today else None
        result = plan_reminders(db.session, organisation.id, today=day, first=day or first_day(organisation))
        db.session.commit()
        click.echo(f"{organisation.slug}: {result}")


@reminders.command("dispatch")
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d"]),
    help="send what is due by this instant (ISO 8601 with offset; default: now)",
)
def dispatch(now):
    """Send the reminders that are due, each at most once."""
    if now is not None and now.tzinfo is None:
        raise click.BadParameter("give an offset, e.g. 2026-06-01T10:00+02:00", param_hint="--now")
    config = current_app.config
    with stop_on_sigterm() as stop:  # SIGTERM or Ctrl-C: finish the reminder being sent, give the rest back
        counts = send_due(db.session, smtp_url=config["SMTP_URL"], config=config, now=now, stop=stop)
    click.echo(" ".join(f"{key}={counts.get(key, 0)}" for key in ("sent", "skipped", "failed", "unknown", "todo")))


@reminders.command("dry-run")
@click.option("--days", type=click.IntRange(1, 60), default=14, show_default=True)
@org_option
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="start on this date")
def dry_run(days: int, slug: str | None, today):
    """One line per message the next N days would send. Nothing is sent or kept."""
    for organisation in organisations(slug):
        messages = messages_ahead(db.session, organisation.id, days, today.date() if today else None)
        db.session.rollback()
        click.echo(f"{organisation.slug}: {len(messages)} message(s) in {days} day(s)")
        for message in messages:
            click.echo("  " + message.line())
