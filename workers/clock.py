"""The clock process: rings the periodic jobs. It keeps no state; every job it starts is idempotent."""

import logging
import signal
import time

from portal.jobs import get_queue
from workers import app_context

log = logging.getLogger("duly.clock")

# (job, every N seconds).
SCHEDULE = [
    ("workers.jobs.sweep_outbox", 60),
    ("workers.jobs.sweep_imports", 60),
    # Hourly, so that each organisation's new local day is picked up soon after its midnight; once a day per debtor.
    ("workers.jobs.evaluate_scenarios", 3600),
    # Planning is idempotent and cheap when nothing changed; a new invoice gets its reminder within 15 minutes.
    ("workers.jobs.plan_reminders", 900),
    # Releases lapsed claims and rings dispatch for whatever is due: Redis is only the doorbell.
    ("workers.jobs.sweep_reminders", 60),
    # Mollie payments whose webhook never came or could not be handled (Mollie away): asked about again.
    ("workers.jobs.reconcile_mollie", 300),
]


def tick(queue, last_run: dict[str, float], now: float) -> list[str]:
    """Enqueue every job whose period has passed since it was last enqueued; returns the jobs enqueued."""
    enqueued = []
    for job, every in SCHEDULE:
        if job in last_run and now - last_run[job] < every:
            continue
        try:
            queue.enqueue(job, job_timeout=300)
        except Exception:  # Redis away: try again on the next tick
            log.warning("could not enqueue %s", job, exc_info=True)
            continue
        last_run[job] = now
        enqueued.append(job)
    return enqueued


def run(tick_seconds: float = 5.0) -> None:
    # Only the clock's own lines at INFO: Alembic and friends log their set-up at INFO on import.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s clock %(message)s")
    log.setLevel(logging.INFO)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last_run: dict[str, float] = {}
    with app_context():
        queue = get_queue()
        try:
            log.info("clock started for queue %s", queue.name)
            while not stopping:
                tick(queue, last_run, time.monotonic())
                time.sleep(tick_seconds)
        finally:
            queue.connection.close()


if __name__ == "__main__":
    run()
