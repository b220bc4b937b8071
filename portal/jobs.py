"""Enqueueing RQ jobs only once the transaction that asked for them has committed.

A job enqueued before the commit could run before its rows exist, or run for rows that a rollback removed.
"""

from flask import current_app
from redis import Redis
from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "duly_pending_jobs"


def get_queue() -> Queue:
    config = current_app.config
    return Queue(config["RQ_QUEUE"], connection=Redis.from_url(config["REDIS_URL"]))


def enqueue_after_commit(session: Session, func: str, *args) -> None:
    """Ring the doorbell after the commit. If Redis is down the row waits for the sweeper; nothing is lost."""
    session.info.setdefault(_PENDING, []).append((func, args))


def _enqueue_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    try:
        queue = get_queue()
        for func, args in pending:
            queue.enqueue(func, *args)
    except Exception:  # noqa: BLE001 - Redis down: the periodic sweeper re-enqueues from the database
        current_app.logger.warning("could not enqueue %d job(s); the sweeper will", len(pending), exc_info=True)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    _enqueue_pending(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
