"""The clock process: rings the periodic jobs. It keeps no state; every job it starts is idempotent."""

import logging
import signal
import time

from portal.jobs import get_queue
from workers import app_context

log = logging.getLogger("duly.clock")

# (job, every N seconds). Later issues add planning reminders and reconciling payments here.
SCHEDULE = [
    ("workers.jobs.sweep_outbox", 60),
]


def run(tick_seconds: float = 5.0) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s clock %(message)s")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last_run: dict[str, float] = {}
    with app_context():
        queue = get_queue()
        log.info("clock started for queue %s", queue.name)
        while not stopping:
            now = time.monotonic()
            for job, every in SCHEDULE:
                if now - last_run.get(job, -every) >= every:
                    last_run[job] = now
                    try:
                        queue.enqueue(job, job_timeout=300)
                    except Exception:  # noqa: BLE001 - Redis away: try again on the next tick
                        log.warning("could not enqueue %s", job, exc_info=True)
            time.sleep(tick_seconds)


if __name__ == "__main__":
    run()
