"""The clock enqueues each periodic job once per period, and retries on the next tick when Redis is away."""

from redis import Redis
from rq import Queue

from portal.jobs import _redis_options
from portal.launcher import free_port
from workers import clock

ALL = [job for job, _ in clock.SCHEDULE]
SWEEPS = [job for job, every in clock.SCHEDULE if every == 60]  # the jobs that run every minute


def test_tick_enqueues_each_job_once_per_period(rq_queue):
    last_run: dict[str, float] = {}
    assert "workers.jobs.sweep_outbox" in SWEEPS and "workers.jobs.evaluate_scenarios" not in SWEEPS
    assert clock.tick(rq_queue, last_run, now=1000.0) == ALL
    assert clock.tick(rq_queue, last_run, now=1005.0) == []
    assert clock.tick(rq_queue, last_run, now=1059.9) == []
    assert clock.tick(rq_queue, last_run, now=1060.0) == SWEEPS
    jobs = rq_queue.get_jobs()
    assert [job.func_name for job in jobs] == ALL + SWEEPS
    assert all(job.timeout == 300 for job in jobs)


def test_the_first_tick_runs_everything_even_just_after_boot(rq_queue):
    assert clock.tick(rq_queue, {}, now=0.5) == [job for job, _ in clock.SCHEDULE]


def test_with_redis_away_the_next_tick_tries_again(rq_queue, caplog):
    down = Redis(host="127.0.0.1", port=free_port(), **_redis_options())
    try:
        last_run: dict[str, float] = {}
        assert clock.tick(Queue(rq_queue.name, connection=down), last_run, now=1000.0) == []
        assert "could not enqueue" in caplog.text
    finally:
        down.close()
    assert clock.tick(rq_queue, last_run, now=1005.0) == ALL  # not a whole period later
    assert rq_queue.count == len(ALL)
