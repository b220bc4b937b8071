"""A real `rq worker` process against the test database, the shared Redis (a private queue) and a real SMTP server."""

import subprocess
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from rq.job import Job
from sqlalchemy import select

from portal.mail import service
from portal.mail.models import MailMessage
from portal.types import utcnow
from tests.mail.rq_queue import job_ids
from tests.processes import PROCESS_DEADLINE, ROOT, child_env, rq_worker_command


@pytest.fixture
def run_worker(app, live_db, rq_queue, smtpd):
    """Runs `rq worker --burst` on the private queue until it is empty; returns the finished process."""

    def run() -> subprocess.CompletedProcess:
        # End the test's own transaction first: on SQLite every transaction holds the write lock (BEGIN IMMEDIATE).
        live_db.commit()
        env = child_env(app, smtp_url=smtpd.url, queue=rq_queue.name)
        command = rq_worker_command(app.config["REDIS_URL"], rq_queue.name)
        result = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=PROCESS_DEADLINE, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert rq_queue.count == 0, result.stdout + result.stderr
        return result

    return run


def queue_mail(session, to: str) -> MailMessage:
    message = service.queue_mail(
        session,
        to=to,
        template="password_reset",
        context={"user": SimpleNamespace(name="Ann", email=to), "link": "https://duly.test/r/worker", "hours": 2},
        from_address="Duly <no-reply@duly.test>",
        sensitive=True,
    )
    session.commit()
    return message


def status_of(session, message_id: int) -> MailMessage:
    session.expire_all()
    return session.get(MailMessage, message_id)


def arrived(smtpd, to: str) -> int:
    return sum(1 for envelope in smtpd.handler.envelopes if envelope.rcpt_tos == [to])


def test_the_worker_delivers_once_even_when_the_job_runs_again(live_db, rq_queue, smtpd, run_worker):
    to = f"worker-{uuid.uuid4().hex[:6]}@example.com"
    message_id = queue_mail(live_db, to).id
    [job_id] = rq_queue.job_ids

    run_worker()
    assert arrived(smtpd, to) == 1
    message = status_of(live_db, message_id)
    assert (message.status, message.attempts) == ("sent", 1)
    assert message.body_text == service.REDACTED
    job = Job.fetch(job_id, connection=rq_queue.connection)
    assert job.get_status() == "finished" and job.return_value() == "sent"

    # RQ requeues a job whose worker it thinks is dead: the same job runs a second time.
    rq_queue.enqueue_job(job)
    assert rq_queue.job_ids == [job_id]
    run_worker()
    assert arrived(smtpd, to) == 1
    assert status_of(live_db, message_id).attempts == 1
    assert Job.fetch(job_id, connection=rq_queue.connection).return_value() == "sent"


def test_the_sweeper_re_enqueues_mail_whose_job_redis_lost(live_db, rq_queue, smtpd, run_worker):
    to = f"lost-{uuid.uuid4().hex[:6]}@example.com"
    lost = MailMessage(
        template="password_reset",
        to_address=to,
        from_address="Duly <no-reply@duly.test>",
        subject="Choose a new Duly password",
        body_text="a link",
        created_at=utcnow() - timedelta(minutes=5),  # older than the grace period of a fresh job
    )
    live_db.add(lost)
    live_db.commit()  # no enqueue_after_commit: as if Redis had lost the doorbell
    assert rq_queue.count == 0

    rq_queue.enqueue("workers.jobs.sweep_outbox")
    run_worker()  # the sweep enqueues deliver_mail on the same queue; the burst worker runs that too

    assert arrived(smtpd, to) == 1
    assert status_of(live_db, lost.id).status == "sent"
    ran = [Job.fetch(i, connection=rq_queue.connection) for i in job_ids(rq_queue)]
    assert [job.func_name for job in ran if job.args == (lost.id,)] == ["workers.jobs.deliver_mail"]
    assert [job.return_value() for job in ran if job.args == (lost.id,)] == ["sent"]
    assert live_db.scalars(select(MailMessage.status).where(MailMessage.to_address == to)).all() == ["sent"]


def test_sweep_outbox_enqueues_each_due_message_once(app, live_db, rq_queue, monkeypatch):
    import workers
    from workers import jobs

    old = utcnow() - timedelta(minutes=5)
    rows = [
        MailMessage(template="t", to_address=f"s{n}@example.com", from_address="f", subject="s", body_text="")
        for n in range(2)
    ]
    for row in rows:
        row.created_at = old
    live_db.add_all(rows)
    live_db.commit()
    monkeypatch.setattr(workers, "_app", app)  # the job's app is this test's app, not one built from os.environ

    assert jobs.sweep_outbox() >= 2  # (on SQLite, earlier tests' rows may linger)
    enqueued = [job.args for job in rq_queue.get_jobs() if job.func_name == "workers.jobs.deliver_mail"]
    assert sorted(args for args in enqueued if args[0] in {row.id for row in rows}) == sorted((r.id,) for r in rows)
