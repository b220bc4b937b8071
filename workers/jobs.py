"""RQ job functions. Each re-reads state from the database and is safe to run twice."""

from sqlalchemy import select

from portal.extensions import db
from portal.imports import service as imports
from portal.jobs import get_queue
from portal.mail import service as mail
from workers import app_context


def deliver_mail(message_id: int) -> str:
    with app_context() as app:
        try:
            status = mail.deliver(db.session, message_id, app.config["SMTP_URL"])
            message = db.session.get(mail.MailMessage, message_id)
            if message is not None and message.reminder_id is not None:
                from portal.reminders.dispatch import settle

                settle(db.session, message_id)  # a reminder's mail retried after a temporary refusal
            return status
        finally:
            db.session.remove()


def sweep_outbox() -> int:
    """Re-enqueue mail whose doorbell Redis lost; mark sends a dead worker left behind as unknown."""
    with app_context():
        try:
            due = mail.sweep(db.session)
            if due:
                queue = get_queue()
                try:
                    for message_id in due:
                        queue.enqueue(deliver_mail, message_id)
                finally:
                    queue.connection.close()
            return len(due)
        finally:
            db.session.remove()


def run_import(batch_id: int) -> str:
    """Import an uploaded file kept as an ImportBatch; a batch already running, done or failed is left alone."""
    with app_context():
        try:
            return imports.run_batch(db.session, batch_id)
        finally:
            db.session.remove()


def run_statement(statement_id: int) -> str:
    """Import an uploaded bank statement; one already running, done or failed is left alone."""
    from portal.bank import service as bank

    with app_context():
        try:
            return bank.run_statement(db.session, statement_id)
        finally:
            db.session.remove()


def sweep_imports() -> int:
    """Re-enqueue invoice imports and bank statements whose doorbell Redis lost; fail runs whose worker died."""
    from portal.bank import service as bank
    from portal.imports import service as imports

    with app_context():
        try:
            due = [(imports.JOB, batch_id) for batch_id in imports.sweep(db.session)]
            due += [(bank.JOB, statement_id) for statement_id in bank.sweep(db.session)]
            if due:
                queue = get_queue()
                try:
                    for job, object_id in due:
                        queue.enqueue(job, object_id)
                finally:
                    queue.connection.close()
            return len(due)
        finally:
            db.session.remove()


def evaluate_scenarios() -> dict[str, int]:
    """Once per organisation-local day, choose each debtor's scenario from its payment behaviour (idempotent)."""
    from portal.organisations.models import Organisation
    from portal.reminders.behaviour import evaluate

    totals: dict[str, int] = {}
    with app_context():
        try:
            for organisation in db.session.scalars(select(Organisation)).all():
                counts = evaluate(db.session, organisation.id, organisation.today())
                db.session.commit()
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
            return totals
        finally:
            db.session.remove()


def plan_reminders() -> dict[str, int]:
    """Plan every organisation's next reminders as of its own local date (idempotent; two clocks may both ring)."""
    from portal.arrangements import service as arrangements
    from portal.organisations.calendar import first_day
    from portal.organisations.models import Organisation
    from portal.promises.service import check_promises
    from portal.reminders.planning import plan
    from portal.types import utcnow

    totals = {"created": 0, "updated": 0, "removed": 0, "unchanged": 0}
    with app_context() as app:
        config = app.config
        try:
            for organisation_id in db.session.scalars(select(Organisation.id)).all():
                organisation = db.session.get(Organisation, organisation_id)
                # Promises and plans first: a broken one frees its invoices, which this same run then plans.
                today = organisation.today()
                check_promises(db.session, organisation_id, today)
                arrangements.check(db.session, organisation_id, today, mail_from=config["MAIL_FROM"])
                result = plan(db.session, organisation_id, first=first_day(organisation))
                db.session.commit()
                # A plan's installments have their own friendly reminders, each sent once.
                arrangements.remind(
                    db.session,
                    organisation_id,
                    today,
                    utcnow(),
                    base_url=config["PUBLIC_BASE_URL"],
                    mail_from=config["MAIL_FROM"],
                )
                db.session.commit()
                for key in totals:
                    totals[key] += getattr(result, key)
            return totals
        finally:
            db.session.remove()


def plan_organisation(organisation_id: int) -> str:
    """Plan one organisation now: after a hold or a settings change, instead of at the clock's next run."""
    from portal.arrangements import service as arrangements
    from portal.organisations.calendar import first_day
    from portal.organisations.models import Organisation
    from portal.reminders.planning import plan

    with app_context() as app:
        try:
            organisation = db.session.get(Organisation, organisation_id)
            if organisation is None:
                return "gone"
            # A payment that finished a plan ends it now, not at the clock's next run.
            arrangements.check(db.session, organisation_id, organisation.today(), mail_from=app.config["MAIL_FROM"])
            result = plan(db.session, organisation_id, first=first_day(organisation))
            db.session.commit()
            return str(result)
        finally:
            db.session.remove()


def dispatch_reminders() -> dict[str, int]:
    """Send due reminders until none is left. On SIGTERM the reminder being sent is finished and the rest of the
    batch goes back to scheduled at once, instead of waiting for its lease (workers.worker passes a warm
    shutdown on to the work horse as SIGTERM)."""
    from portal.reminders.dispatch import dispatch, stop_on_sigterm

    with stop_on_sigterm() as stop, app_context() as app:
        try:
            return dict(dispatch(db.session, smtp_url=app.config["SMTP_URL"], config=app.config, stop=stop))
        finally:
            db.session.remove()


def sweep_reminders() -> int:
    """Lapsed claims back to scheduled, finished sends settled, and a dispatch rung for what is due: Redis may
    have lost the doorbell, the database has not."""
    from portal.reminders.dispatch import BATCH, sweep

    with app_context():
        try:
            due = sweep(db.session)
        finally:
            db.session.remove()
        if due:
            queue = get_queue()
            try:
                # One job per batch, up to a few: each one keeps claiming until nothing is due, so spare ones
                # find nothing; as many as there are workers share the work.
                for _ in range(min(4, -(-due // BATCH))):
                    queue.enqueue(dispatch_reminders)
            finally:
                queue.connection.close()
        return due


def sync_mollie_payment(mollie_id: str) -> str:
    """Ask Mollie about one payment and apply the answer (a webhook whose fetch failed); safe to repeat."""
    from portal.payments.service import sync

    with app_context() as app:
        try:
            return sync(db.session, mollie_id, endpoint=app.config["MOLLIE_API_ENDPOINT"])
        finally:
            db.session.remove()


def reconcile_mollie() -> dict[str, int]:
    """Payments whose webhook never came or failed: ask Mollie about each. One failure does not stop the rest."""
    from portal.payments.service import stale, sync

    outcomes: dict[str, int] = {}
    with app_context() as app:
        try:
            for mollie_id in stale(db.session):
                try:
                    outcome = sync(db.session, mollie_id, endpoint=app.config["MOLLIE_API_ENDPOINT"])
                except Exception:  # noqa: BLE001 - Mollie still away for this one: the next run tries again
                    db.session.rollback()
                    outcome = "error"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            return outcomes
        finally:
            db.session.remove()
