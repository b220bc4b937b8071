"""RQ job functions: thin, they take ids and call a service. Each re-reads state from the database and is safe to run
twice. ``@job`` gives each its app context and removes its session afterwards, whatever happens."""

import functools

from flask import current_app
from sqlalchemy import select

from portal.bank import service as bank
from portal.extensions import db
from portal.imports import service as imports
from portal.jobs import get_queue
from portal.mail import service as mail
from portal.organisations.models import Organisation
from portal.payments import service as payments
from portal.reminders import dispatch as reminders
from portal.reminders.behaviour import evaluate
from portal.reminders.service import plan_organisation as plan_round
from workers import app_context


def job(func):
    """The wiring every job needs: the worker's app context, and the session removed afterwards (a work horse may run
    another job; a failed one must not leave a transaction behind)."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        with app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return run


def _enqueue(jobs: list[tuple]) -> None:
    """Ring the doorbell for each (job, *args), on one connection."""
    if not jobs:
        return
    queue = get_queue()
    try:
        for func, *args in jobs:
            queue.enqueue(func, *args)
    finally:
        queue.connection.close()


@job
def deliver_mail(message_id: int) -> str:
    status = mail.deliver(db.session, message_id, current_app.config["SMTP_URL"])
    message = db.session.get(mail.MailMessage, message_id)
    if message is not None and message.reminder_id is not None:
        reminders.settle(db.session, message_id)  # a reminder's mail retried after a temporary refusal
    return status


@job
def sweep_outbox() -> int:
    """Re-enqueue mail whose doorbell Redis lost; mark sends a dead worker left behind as unknown."""
    due = mail.sweep(db.session)
    _enqueue([(deliver_mail, message_id) for message_id in due])
    return len(due)


@job
def run_import(batch_id: int) -> str:
    """Import an uploaded file kept as an ImportBatch; a batch already running, done or failed is left alone."""
    return imports.run_batch(db.session, batch_id)


@job
def run_statement(statement_id: int) -> str:
    """Import an uploaded bank statement; one already running, done or failed is left alone."""
    return bank.run_statement(db.session, statement_id)


@job
def sweep_imports() -> int:
    """Re-enqueue invoice imports and bank statements whose doorbell Redis lost; fail runs whose worker died."""
    due = [(imports.JOB, batch_id) for batch_id in imports.sweep(db.session)]
    due += [(bank.JOB, statement_id) for statement_id in bank.sweep(db.session)]
    _enqueue(due)
    return len(due)


@job
def evaluate_scenarios() -> dict[str, int]:
    """Once per organisation-local day, choose each debtor's scenario from its payment behaviour (idempotent)."""
    totals: dict[str, int] = {}
    for organisation in db.session.scalars(select(Organisation)).all():
        counts = evaluate(db.session, organisation.id, organisation.today())
        db.session.commit()
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _plan_round(organisation_id: int):
    config = current_app.config
    return plan_round(db.session, organisation_id, base_url=config["PUBLIC_BASE_URL"], mail_from=config["MAIL_FROM"])


@job
def plan_reminders() -> dict[str, int]:
    """The clock's planning round for every organisation, each as of its own local date (idempotent; two clocks
    may both ring)."""
    totals = {"created": 0, "updated": 0, "removed": 0, "unchanged": 0}
    for organisation_id in db.session.scalars(select(Organisation.id)).all():
        result = _plan_round(organisation_id)
        for key in totals:
            totals[key] += getattr(result, key, 0)
    return totals


@job
def plan_organisation(organisation_id: int) -> str:
    """The same round for one organisation now: after a payment, a hold or a debtor's action, instead of at the
    clock's next run."""
    result = _plan_round(organisation_id)
    return "gone" if result is None else str(result)


@job
def dispatch_reminders() -> dict[str, int]:
    """Send due reminders until none is left. On SIGTERM the reminder being sent is finished and the rest of the
    batch goes back to scheduled at once, instead of waiting for its lease (workers.worker passes a warm
    shutdown on to the work horse as SIGTERM)."""
    with reminders.stop_on_sigterm() as stop:
        config = current_app.config
        return dict(reminders.dispatch(db.session, smtp_url=config["SMTP_URL"], config=config, stop=stop))


@job
def sweep_reminders() -> int:
    """Lapsed claims back to scheduled, finished sends settled, and a dispatch rung for what is due: Redis may
    have lost the doorbell, the database has not."""
    due = reminders.sweep(db.session)
    db.session.remove()  # nothing of the sweep's transaction is held while Redis is rung
    # One job per batch, up to a few: each one keeps claiming until nothing is due, so spare ones find nothing; as
    # many as there are workers share the work.
    _enqueue([(dispatch_reminders,)] * (min(4, -(-due // reminders.BATCH)) if due else 0))
    return due


@job
def sync_mollie_payment(mollie_id: str) -> str:
    """Ask Mollie about one payment and apply the answer (a webhook whose fetch failed); safe to repeat."""
    return payments.sync(db.session, mollie_id, endpoint=current_app.config["MOLLIE_API_ENDPOINT"])


@job
def reconcile_mollie() -> dict[str, int]:
    """Payments whose webhook never came or failed, and booked ones that Mollie may since have refunded or seen
    charged back (every webhook about that lost): ask Mollie about each. One failure does not stop the rest."""
    outcomes: dict[str, int] = {}
    stale = payments.stale(db.session)
    recheck = payments.due_for_recheck(db.session)
    db.session.commit()
    for mollie_id in stale + recheck:
        try:
            outcome = payments.sync(db.session, mollie_id, endpoint=current_app.config["MOLLIE_API_ENDPOINT"])
        except Exception:  # noqa: BLE001 - Mollie still away for this one: the next run tries again
            db.session.rollback()
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
