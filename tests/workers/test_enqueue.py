"""portal.jobs: a job reaches Redis only once its transaction has committed, and a dead Redis loses nothing."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from rq import Queue

from portal.jobs import enqueue_after_commit
from portal.launcher import free_port
from portal.mail import service
from portal.mail.models import MailMessage
from portal.types import utcnow


def queue_mail(session, to="ann@example.com") -> MailMessage:
    return service.queue_mail(
        session,
        to=to,
        template="password_reset",
        context={"user": SimpleNamespace(name="Ann", email=to), "link": "https://duly.test/r/x", "hours": 2},
        from_address="Duly <no-reply@duly.test>",
        sensitive=True,
    )


def jobs(queue: Queue) -> list[tuple[str, tuple]]:
    return [(job.func_name, job.args) for job in queue.get_jobs()]


def test_the_job_is_enqueued_only_after_the_commit(db_session, rq_queue):
    message = queue_mail(db_session)
    assert message.id is not None  # the row exists in the transaction...
    assert rq_queue.count == 0  # ...but no worker may see the job yet
    db_session.commit()
    assert jobs(rq_queue) == [("workers.jobs.deliver_mail", (message.id,))]
    db_session.commit()  # nothing is enqueued twice
    assert rq_queue.count == 1


def test_a_rollback_drops_the_job(db_session, rq_queue):
    queue_mail(db_session)
    db_session.rollback()
    db_session.commit()
    assert rq_queue.count == 0


def test_jobs_of_a_released_savepoint_wait_for_the_outer_commit(db_session, rq_queue):
    with db_session.begin_nested():
        message = queue_mail(db_session)
    assert rq_queue.count == 0
    db_session.commit()
    assert jobs(rq_queue) == [("workers.jobs.deliver_mail", (message.id,))]


def test_jobs_of_a_rolled_back_savepoint_are_dropped(db_session, rq_queue):
    kept = queue_mail(db_session, to="kept@example.com")
    savepoint = db_session.begin_nested()
    queue_mail(db_session, to="dropped@example.com")
    with db_session.begin_nested():  # committed inner savepoint, inside the one that is rolled back
        queue_mail(db_session, to="inner@example.com")
    savepoint.rollback()
    db_session.commit()
    assert jobs(rq_queue) == [("workers.jobs.deliver_mail", (kept.id,))]


@pytest.mark.parametrize("flush_first", [True, False])
def test_jobs_do_not_outlive_a_closed_session(app, rq_queue, flush_first):
    from portal.extensions import db

    with app.app_context():
        session = db.session()
        try:
            if flush_first:
                session.add(MailMessage(template="t", to_address="a@b.c", from_address="f", subject="s", body_text=""))
                session.flush()
            enqueue_after_commit(session, "workers.jobs.deliver_mail", 1)
            session.close()  # neither commit nor rollback: the transaction just ends
            session.commit()
            assert rq_queue.count == 0
        finally:
            db.session.remove()


def test_with_redis_down_the_commit_succeeds_and_the_sweeper_finds_the_row(
    app, db_session, rq_queue, monkeypatch, caplog
):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    message = queue_mail(db_session)
    started = time.monotonic()
    db_session.commit()  # no exception: the doorbell did not ring, the row is safe
    assert time.monotonic() - started < 2, "a request must not wait long for a Redis that is down"
    assert "the sweeper will" in caplog.text
    monkeypatch.undo()

    assert rq_queue.count == 0
    db_session.expire_all()
    row = db_session.get(MailMessage, message.id)
    assert (row.status, row.attempts) == ("queued", 0)
    assert message.id in service.sweep(db_session, now=utcnow() + timedelta(minutes=2))


@pytest.mark.parametrize("url", ["redis://127.0.0.1:notaport/0", "nonsense://"])
def test_a_broken_redis_url_does_not_break_the_commit(app, db_session, rq_queue, monkeypatch, url):
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    queue_mail(db_session)
    db_session.commit()
