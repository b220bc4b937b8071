"""A private RQ queue on the shared Redis, and the removal of every key it (and the jobs in it) left behind.

The machine's Redis is shared: the tests only ever delete keys that name their own queue or their own jobs.
"""

import uuid
from contextlib import contextmanager

from redis import Redis
from rq import Queue
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

REGISTRIES = (
    StartedJobRegistry,
    FinishedJobRegistry,
    FailedJobRegistry,
    DeferredJobRegistry,
    ScheduledJobRegistry,
    CanceledJobRegistry,
)


def job_ids(queue: Queue) -> set[str]:
    ids = set(queue.get_job_ids())
    for registry in REGISTRIES:
        ids.update(registry(queue=queue).get_job_ids(cleanup=False))
    return ids


def purge(queue: Queue, extra_job_ids=()) -> None:
    redis = queue.connection
    ids = job_ids(queue) | set(extra_job_ids)
    for job_id in ids:
        for key in redis.scan_iter(match=f"*{job_id}*", count=1000):
            redis.delete(key)
    for key in redis.scan_iter(match=f"*{queue.name}*", count=1000):
        redis.delete(key)
    for members in ("rq:queues", "rq:workers"):
        for member in redis.smembers(members):
            if queue.name in member.decode():
                redis.srem(members, member)


@contextmanager
def private_queue(app):
    """Yields a Queue named after the run's queue (so the session teardown would find it too) plus a suffix."""
    name = f"{app.config['RQ_QUEUE']}-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(name, connection=redis)
    try:
        yield queue
    finally:
        purge(queue)
        redis.close()
