"""Enqueueing RQ jobs only once the transaction that asked for them has committed.

A job enqueued before the commit could run before its rows exist, or run for rows that a rollback removed. That
holds for savepoints too: a job asked for inside ``session.begin_nested()`` waits for the outermost commit, and
goes away with the savepoint if that is rolled back.
"""

from flask import current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

_PENDING = "duly_pending_jobs"


def _redis_options() -> dict:
    """A request must not hang on an unreachable Redis (redis-py's default retries for seconds): the sweeper
    covers for a doorbell that did not ring."""
    return {
        "socket_connect_timeout": 1,
        "socket_timeout": 5,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=2),
    }


def get_queue() -> Queue:
    """The app's RQ queue on a connection of its own; close it with ``queue.connection.close()`` when done."""
    config = current_app.config
    # An hour, not RQ's 3 minutes: importing a file of a million rows is one job. Jobs that talk to the outside
    # (SMTP, Mollie) bound their own calls with socket timeouts.
    return Queue(
        config["RQ_QUEUE"],
        connection=Redis.from_url(config["REDIS_URL"], **_redis_options()),
        default_timeout=3600,
    )


def _boundary(session: Session) -> SessionTransaction | None:
    """The transaction whose fate decides a job asked for now: the innermost savepoint, else the root."""
    return session.get_nested_transaction() or session.get_transaction()


def enqueue_after_commit(session: Session | scoped_session, func: str, *args) -> None:
    """Ring the doorbell after the commit. If Redis is down the row waits for the sweeper; nothing is lost."""
    if isinstance(session, scoped_session):  # e.g. db.session
        session = session()
    if session.get_transaction() is None:
        session.begin()  # a job belongs to a transaction, so that a close() without commit forgets it too
    session.info.setdefault(_PENDING, []).append((_boundary(session), func, args))


def _enqueue(pending: list) -> None:
    try:
        queue = get_queue()
    except Exception:  # a bad REDIS_URL must not undo a commit that has happened
        current_app.logger.warning("could not enqueue %d job(s); the sweeper will", len(pending), exc_info=True)
        return
    try:
        for _, func, args in pending:
            queue.enqueue(func, *args)
    except Exception:  # Redis down: the periodic sweeper re-enqueues from the database
        current_app.logger.warning("could not enqueue %d job(s); the sweeper will", len(pending), exc_info=True)
    finally:
        queue.connection.close()


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    # While after_commit runs, the committing transaction is still the session's current one.
    committed = _boundary(session)
    if committed is not None and committed.nested:
        # A released savepoint hands its jobs to the enclosing transaction; only the outermost commit enqueues.
        parent = committed.parent
        while parent is not None and not (parent.nested or parent.parent is None):
            parent = parent.parent
        session.info[_PENDING] = [(parent if tx is committed else tx, func, args) for tx, func, args in pending]
        return
    session.info.pop(_PENDING, None)
    _enqueue(pending)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """Whatever is still pending for a transaction that has ended was not committed: forget it."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
    elif transaction.nested:
        session.info[_PENDING] = [job for job in pending if not _within(job[0], transaction)]
