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
            return mail.deliver(db.session, message_id, app.config["SMTP_URL"])
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


def sweep_imports() -> int:
    """Re-enqueue import batches whose doorbell Redis lost; fail runs whose worker died."""
    from portal.imports import service as imports

    with app_context():
        try:
            due = imports.sweep(db.session)
            if due:
                queue = get_queue()
                try:
                    for batch_id in due:
                        queue.enqueue(imports.JOB, batch_id)
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
