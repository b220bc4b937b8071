"""The reminder engine in real processes: killed, stopped, doubled and racing workers (RELIABILITY.md, "Reminders and
workers"). Each dispatcher here is a process of its own (the CLI, a job run by `python -c`, or `rq worker --burst`)
against the test database and a real SMTP server; the test reads the outcome from the database and counts what the
SMTP server received.

On SQLite every transaction holds the write lock (BEGIN IMMEDIATE): the test ends its own transaction before it
starts or waits for another process, and after every look at the database while one runs.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import select, update

from portal import launcher
from portal.debtors.models import Debtor
from portal.events import Event
from portal.mail import service as mail
from portal.mail.models import MailMessage
from portal.organisations.models import Organisation
from portal.reminders import schedule
from portal.reminders.dispatch import dispatch, sweep
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from portal.types import utcnow
from tests.factories import make_debtor, make_invoice, make_organisation, make_user
from tests.mail.smtp_server import RecordingHandler
from tests.processes import PROCESS_DEADLINE, child_env, rq_worker_command

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DISPATCH_JOB = "workers.jobs.dispatch_reminders"


# A dispatcher process. DULY_TEST_ENTRY=job runs the RQ job function (with its SIGTERM handling), =dispatch calls
# dispatch() as the scheduler's job does. With DULY_TEST_GATE set it says "ready" once its app is built and its
# database connection open, and waits for a line on stdin: several processes can be let go at the same instant.
# Prints the counts as JSON.
DISPATCHER = """
import json, os, sys
from sqlalchemy import text
from portal.extensions import db
from workers import app_context

with app_context() as app:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    if os.environ.get("DULY_TEST_GATE"):
        print("ready", flush=True)
        sys.stdin.readline()
    if os.environ.get("DULY_TEST_ENTRY") == "job":
        from workers.jobs import dispatch_reminders

        counts = dispatch_reminders()
    else:
        from portal.reminders.dispatch import dispatch

        counts = dict(dispatch(db.session, smtp_url=app.config["SMTP_URL"], config=app.config))
        db.session.remove()
print(json.dumps(counts))
"""


# --- processes ---------------------------------------------------------------------------------------------------


def _env(app, smtp_url: str, *, redis_url: str | None = None, queue: str | None = None, **extra: str) -> dict:
    return child_env(app, smtp_url=smtp_url, redis_url=redis_url, queue=queue, **extra)


@pytest.fixture
def processes():
    """Every process a test starts; any still running afterwards is killed (by its own pid)."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _spawn(processes, command: list[str], env: dict) -> subprocess.Popen:
    process = subprocess.Popen(  # our own interpreter and scripts
        command, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    processes.append(process)
    return process


def _dispatcher(processes, app, smtp_url: str, entry: str = "dispatch", **extra: str) -> subprocess.Popen:
    env = _env(app, smtp_url, DULY_TEST_ENTRY=entry, **extra)
    return _spawn(processes, [sys.executable, "-c", DISPATCHER], env)


def _cli_dispatch(processes, app, smtp_url: str) -> subprocess.Popen:
    command = [str(BIN / "flask"), "--app", "portal:create_app", "reminders", "dispatch"]
    return _spawn(processes, command, _env(app, smtp_url))


def _rq_worker(processes, app, queue: Queue, smtp_url: str, redis_url: str) -> subprocess.Popen:
    command = rq_worker_command(redis_url, queue.name)
    return _spawn(processes, command, _env(app, smtp_url, redis_url=redis_url, queue=queue.name))


def _finish(process: subprocess.Popen, timeout: float = PROCESS_DEADLINE) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _counts(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _wait(event: threading.Event, process: subprocess.Popen, timeout: float = PROCESS_DEADLINE) -> None:
    """Wait for the SMTP side to see the worker; fail with its output if it ended first or never came."""
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            _, out, err = _finish(process)
            pytest.fail(f"the worker never reached the SMTP server (exit {process.returncode}):\n{out}\n{err}")


# --- SMTP servers ------------------------------------------------------------------------------------------------


@pytest.fixture
def smtpd(make_smtpd):
    """A recording server started through make_smtpd, so that the handler classes below can share its setup."""
    return make_smtpd(RecordingHandler())


class KillInDataHandler(RecordingHandler):
    """Takes the whole message, then SIGKILLs the sending worker before answering DATA."""

    def __init__(self):
        super().__init__()
        self.victim: int | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self.data_commands += 1
        self.accept(envelope)  # the server holds the message: from here on it may reach the debtor
        while self.victim is None:
            await asyncio.sleep(0.01)
        os.kill(self.victim, signal.SIGKILL)
        await asyncio.sleep(0.3)  # the reply must not reach a worker that is still dying
        return "250 2.0.0 Message accepted for delivery"


class SlowDataHandler(RecordingHandler):
    """Accepts every message, ``delay`` seconds after DATA; ``in_data`` is set at the first DATA."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay
        self.in_data = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self._lock:
            self.data_commands += 1
        self.in_data.set()
        await asyncio.sleep(self.delay)
        return self.reply_to_data(server, session, envelope)


@contextmanager
def silent_smtp_server():
    """Accepts TCP connections and never says a word: a worker waits for the greeting (30 s socket timeout)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    connected = threading.Event()
    connections: list[socket.socket] = []
    stopping = threading.Event()

    def serve():
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(conn)
            connected.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        yield SimpleNamespace(url=f"smtp://127.0.0.1:{port}", connected=connected, connections=connections)
    finally:
        stopping.set()
        thread.join(timeout=5)
        listener.close()
        for conn in connections:
            conn.close()


def _per_recipient(handler: RecordingHandler) -> Counter:
    return Counter(address for envelope in handler.envelopes for address in envelope.rcpt_tos)


# --- data --------------------------------------------------------------------------------------------------------


def _due(session, count: int, *, tag: str | None = None, send_at=None) -> tuple[int, dict[int, str]]:
    """An organisation with ``count`` debtors, each with an overdue invoice and a reminder due an hour ago (or at
    ``send_at``). Committed and closed. Returns (organisation id, {reminder id: the debtor's address})."""
    tag = tag or uuid.uuid4().hex[:6]
    organisation = make_organisation(session, name="Acme Supplies B.V.", iban="NL91ABNA0417164300")
    organisation_id, today = organisation.id, organisation.today()
    for n in range(count):
        debtor = make_debtor(session, organisation, name=f"Klant {n}", language="en", email=f"{tag}-{n}@example.com")
        make_invoice(session, debtor, "121.00", days_overdue=10)
    plan(session, organisation_id, today=today, first=today)
    # Planning puts it at the send window of the next business day; the workers below read the clock.
    session.execute(
        update(Reminder)
        .where(Reminder.organisation_id == organisation_id)
        .values(send_at=send_at or utcnow() - timedelta(hours=1))
    )
    session.commit()
    rows = session.execute(
        select(Reminder.id, Reminder.debtor_id).where(Reminder.organisation_id == organisation_id)
    ).all()
    addresses = dict(
        session.execute(select(Debtor.id, Debtor.email).where(Debtor.organisation_id == organisation_id)).all()
    )
    session.commit()
    session.close()
    assert len(rows) == count
    return organisation_id, {reminder_id: addresses[debtor_id] for reminder_id, debtor_id in rows}


def _states(session, ids) -> dict[int, SimpleNamespace]:
    """Each reminder's row as it is now; the read's transaction is ended (SQLite's write lock)."""
    session.expire_all()
    rows = session.execute(
        select(Reminder.id, Reminder.status, Reminder.claimed_by, Reminder.lease_until, Reminder.reason).where(
            Reminder.id.in_(list(ids))
        )
    ).all()
    session.commit()
    return {row.id: SimpleNamespace(**row._asdict()) for row in rows}


def _by_status(states: dict) -> Counter:
    return Counter(state.status for state in states.values())


# --- the tests ---------------------------------------------------------------------------------------------------


def test_a_worker_killed_inside_data_leaves_the_reminder_unknown_and_never_resent(app, live_db, make_smtpd, processes):
    handler = KillInDataHandler()
    server = make_smtpd(handler)
    organisation_id, reminders = _due(live_db, 1)
    [(reminder_id, address)] = reminders.items()

    worker = _cli_dispatch(processes, app, server.url)  # `flask reminders dispatch`, as an operator would
    handler.victim = worker.pid
    code, out, err = _finish(worker)

    assert code == -signal.SIGKILL, out + err
    assert handler.data_commands == 1 and _per_recipient(handler) == {address: 1}
    # What the dead worker left: the reminder and its mail both 'sending', committed before SMTP heard of it.
    assert _states(live_db, [reminder_id])[reminder_id].status == "sending"
    message = live_db.scalar(select(MailMessage).where(MailMessage.reminder_id == reminder_id))
    assert message.status == "sending"
    live_db.commit()

    # Before the sending lease is over nothing touches it; after it, the sweepers call it unknown.
    soon = utcnow() + timedelta(minutes=6)
    mail.sweep(live_db, now=soon)
    sweep(live_db, now=soon)
    assert _states(live_db, [reminder_id])[reminder_id].status == "sending"
    later = utcnow() + mail.SENDING_LEASE + timedelta(minutes=1)
    mail.sweep(live_db, now=later)
    sweep(live_db, now=later)
    state = _states(live_db, [reminder_id])[reminder_id]
    assert state.status == "unknown" and "not resent" in state.reason
    assert live_db.get(MailMessage, message.id, populate_existing=True).status == "unknown"
    # Shown to the supplier: the reminder's history says so.
    events = live_db.execute(select(Event.kind, Event.data).where(Event.organisation_id == organisation_id)).all()
    assert [kind for kind, data in events if data.get("reminder") == reminder_id] == ["reminder:unknown"]
    live_db.commit()

    # Another worker, and another one later still: nothing more goes out.
    code, out, err = _finish(_cli_dispatch(processes, app, server.url))
    assert code == 0 and "sent=0 " in out, out + err
    assert sum(dispatch(live_db, smtp_url=server.url, config=app.config, now=later).values()) == 0
    assert handler.data_commands == 1 and _per_recipient(handler) == {address: 1}
    assert _states(live_db, [reminder_id])[reminder_id].status == "unknown"


def test_a_worker_killed_after_claiming_leaves_claims_that_lapse_and_are_sent_once(app, live_db, smtpd, processes):
    """The worker claims a batch of three and hangs in the SMTP greeting of the first; it is SIGKILLed there.
    Nothing of a send is committed before DATA, so all three claims lapse and each is sent once afterwards."""
    _, reminders = _due(live_db, 3)
    with silent_smtp_server() as silent:
        worker = _dispatcher(processes, app, silent.url)
        _wait(silent.connected, worker)
        os.kill(worker.pid, signal.SIGKILL)
        code, out, err = _finish(worker)
        assert code == -signal.SIGKILL, out + err
        assert len(silent.connections) == 1

    states = _states(live_db, reminders)
    assert _by_status(states) == {"claimed": 3}
    assert {state.claimed_by.split(":")[1] for state in states.values()} == {str(worker.pid)}

    # While the lease holds, another worker leaves them alone.
    now = utcnow()
    assert sum(dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=now).values()) == 0
    assert smtpd.messages == []

    # After it, the sweeper gives them back and a new worker (a real process) sends each once.
    after_lease = now + timedelta(minutes=6)
    assert sweep(live_db, now=after_lease) == 3
    assert _by_status(_states(live_db, reminders)) == {"scheduled": 3}
    # The new worker reads the clock, so the lapsed claims are simply due again (no need to fake its time).
    code, out, err = _finish(_dispatcher(processes, app, smtpd.url))
    assert code == 0 and _counts(out) == {"sent": 3}, out + err
    assert _per_recipient(smtpd.handler) == {address: 1 for address in reminders.values()}
    assert _by_status(_states(live_db, reminders)) == {"sent": 3}


@pytest.mark.parametrize(
    "entry",
    [
        "job",  # workers.jobs.dispatch_reminders, run by `python -c`
        "cli",  # flask reminders dispatch
    ],
)
def test_sigterm_mid_batch_finishes_the_mail_being_sent_and_gives_the_rest_back_at_once(
    app, live_db, make_smtpd, processes, entry
):
    handler = SlowDataHandler(delay=0.5)
    server = make_smtpd(handler)
    _, reminders = _due(live_db, 10)

    if entry == "job":
        worker = _dispatcher(processes, app, server.url, entry="job")
    else:
        worker = _cli_dispatch(processes, app, server.url)
    _wait(handler.in_data, worker)
    worker.send_signal(signal.SIGTERM)
    code, out, err = _finish(worker)

    assert code == 0, out + err  # a clean exit
    assert _counts(out) == {"sent": 1} if entry == "job" else out.startswith("sent=1 "), out + err
    assert handler.data_commands == 1
    states = _states(live_db, reminders)  # no sweep, no lease to wait for
    assert _by_status(states) == {"sent": 1, "scheduled": 9}
    [sent] = [rid for rid, state in states.items() if state.status == "sent"]
    assert _per_recipient(handler) == {reminders[sent]: 1}
    for state in states.values():
        if state.status == "scheduled":
            assert state.claimed_by is None and state.lease_until is None

    # The next worker sends the other nine, each once.
    handler.delay = 0
    code, out, err = _finish(_dispatcher(processes, app, server.url, entry="job"))
    assert code == 0 and _counts(out) == {"sent": 9}, out + err
    assert _per_recipient(handler) == dict.fromkeys(reminders.values(), 1)
    assert _by_status(_states(live_db, reminders)) == {"sent": 10}


def _work_horse(session, worker: subprocess.Popen, ids) -> int:
    """The pid of the worker's work horse, the process holding the claims (a claim names host:pid:random)."""
    [pid] = {int(state.claimed_by.split(":")[1]) for state in _states(session, ids).values() if state.claimed_by}
    stat = Path(f"/proc/{pid}/stat").read_text()
    assert int(stat.rpartition(")")[2].split()[1]) == worker.pid  # a child of our worker, nothing else
    return pid


@contextmanager
def _rq_worker_with_a_job(processes, app, rq_queue, smtp_url):
    """An `rq worker --burst` with one dispatch_reminders job. Yields (worker, job, horses): pids put in ``horses``
    are SIGKILLed afterwards if still there (RQ's work horse is in a process group of its own)."""
    job = rq_queue.enqueue(DISPATCH_JOB)
    worker = _rq_worker(processes, app, rq_queue, smtp_url, app.config["REDIS_URL"])
    horses: list[int] = []
    try:
        yield worker, job, horses
    finally:
        for pid in horses:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_to_an_rq_worker_and_its_work_horse_stops_the_batch_like_the_job_alone(
    app, live_db, make_smtpd, rq_queue, processes
):
    """As Heroku (every process of the dyno) and systemd (KillMode=control-group) deliver it: the horse's job stops
    after the mail in DATA and gives the rest back; the worker's warm shutdown waits for it and exits cleanly."""
    handler = SlowDataHandler(delay=0.5)
    server = make_smtpd(handler)
    _, reminders = _due(live_db, 10)
    with _rq_worker_with_a_job(processes, app, rq_queue, server.url) as (worker, job, horses):
        _wait(handler.in_data, worker)
        horses.append(horse := _work_horse(live_db, worker, reminders))
        os.kill(worker.pid, signal.SIGTERM)
        os.kill(horse, signal.SIGTERM)
        code, out, err = _finish(worker)

    assert code == 0, out + err
    assert Job.fetch(job.id, connection=rq_queue.connection).return_value() == {"sent": 1}
    assert handler.data_commands == 1
    states = _states(live_db, reminders)
    assert _by_status(states) == {"sent": 1, "scheduled": 9}
    assert all(state.claimed_by is None for state in states.values())


def test_sigterm_to_the_rq_worker_process_alone_stops_the_batch_within_the_grace_period(
    app, live_db, make_smtpd, rq_queue, processes
):
    """SIGTERM to the worker process only (PID 1 of a container), then SIGKILL for all once a grace period is over:
    the mail in DATA should finish and the rest of the batch be back to scheduled, nothing 'sending' or 'claimed'."""
    handler = SlowDataHandler(delay=0.5)
    server = make_smtpd(handler)
    _, reminders = _due(live_db, 10)
    with _rq_worker_with_a_job(processes, app, rq_queue, server.url) as (worker, _, horses):
        _wait(handler.in_data, worker)
        horses.append(horse := _work_horse(live_db, worker, reminders))
        os.kill(worker.pid, signal.SIGTERM)
        try:
            # Kubernetes' grace period. A worker that went on through the batch would send all ten mails in it.
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(horse, signal.SIGKILL)  # the end of the grace period: everything in the container
            worker.kill()
        _finish(worker)

    states = _states(live_db, reminders)
    assert _by_status(states) == {"sent": 1, "scheduled": 9}
    assert handler.data_commands == 1


def test_two_rq_workers_over_hundreds_of_reminders_send_each_exactly_once(app, live_db, rq_queue, smtpd, processes):
    count = 200
    _, reminders = _due(live_db, count)
    jobs = [rq_queue.enqueue(DISPATCH_JOB) for _ in range(4)]
    rq_queue.enqueue_job(jobs[0])  # the same job twice in the queue: two workers may run it at once
    assert rq_queue.count == 5

    workers = [_rq_worker(processes, app, rq_queue, smtpd.url, app.config["REDIS_URL"]) for _ in range(2)]
    for worker in workers:
        code, out, err = _finish(worker)
        assert code == 0, out + err
    assert rq_queue.count == 0
    # (A burst worker exits 0 even when a job failed: look at the jobs themselves.)
    assert {Job.fetch(job.id, connection=rq_queue.connection).get_status() for job in jobs} == {"finished"}
    assert FailedJobRegistry(queue=rq_queue).count == 0

    assert _per_recipient(smtpd.handler) == dict.fromkeys(reminders.values(), 1)
    assert _by_status(_states(live_db, reminders)) == {"sent": count}
    results = [Job.fetch(job.id, connection=rq_queue.connection).return_value() or {} for job in jobs]
    # Each job's result is the count of its last run (the one run twice reports its second run, which found none).
    assert sum(result.get("sent", 0) for result in results) <= count

    # RQ takes a finished job for abandoned (moves it to failed), and someone requeues it: no second mail.
    job = Job.fetch(jobs[1].id, connection=rq_queue.connection)
    FinishedJobRegistry(queue=rq_queue).remove(job)
    failed = FailedJobRegistry(queue=rq_queue)
    failed.add(job, exc_string="abandoned")
    failed.requeue(job.id)
    assert rq_queue.job_ids == [job.id]
    code, out, err = _finish(_rq_worker(processes, app, rq_queue, smtpd.url, app.config["REDIS_URL"]))
    assert code == 0, out + err
    assert Job.fetch(job.id, connection=rq_queue.connection).return_value() == {}
    assert len(smtpd.handler.envelopes) == count


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own, on a free port: the shared one is never flushed."""
    port = launcher.free_port()
    assert port != 6379
    process = launcher.start_redis(port, tmp_path / "redis")
    client = Redis(host="127.0.0.1", port=port)
    assert int(client.info("server")["process_id"]) == process.pid
    try:
        yield SimpleNamespace(url=f"redis://127.0.0.1:{port}/0", client=client, process=process)
    finally:
        client.close()
        launcher.stop_process(process)


def test_after_redis_is_flushed_the_sweeper_re_enqueues_and_everything_is_sent_once(
    app, live_db, smtpd, private_redis, processes
):
    count = 50
    _, reminders = _due(live_db, count)
    queue = Queue(f"{app.config['RQ_QUEUE']}-flushed", connection=private_redis.client)
    for _ in range(3):
        queue.enqueue(DISPATCH_JOB)
    assert queue.count == 3

    private_redis.client.flushall()  # Redis restarted empty: the doorbells are gone, the reminders are not
    assert queue.count == 0 and private_redis.client.dbsize() == 0

    sweeper = queue.enqueue("workers.jobs.sweep_reminders")  # what the clock rings every minute
    code, out, err = _finish(_rq_worker(processes, app, queue, smtpd.url, private_redis.url))
    assert code == 0, out + err
    assert Job.fetch(sweeper.id, connection=private_redis.client).return_value() == count
    assert queue.count == 0 and FailedJobRegistry(queue=queue).count == 0
    assert FinishedJobRegistry(queue=queue).count == 1 + 3  # the sweep and the dispatch jobs it rang

    assert _per_recipient(smtpd.handler) == dict.fromkeys(reminders.values(), 1)
    assert _by_status(_states(live_db, reminders)) == {"sent": count}

    # The next sweep finds nothing due and rings nothing: nothing doubled.
    again = queue.enqueue("workers.jobs.sweep_reminders")
    code, out, err = _finish(_rq_worker(processes, app, queue, smtpd.url, private_redis.url))
    assert code == 0, out + err
    assert Job.fetch(again.id, connection=private_redis.client).return_value() == 0
    assert queue.get_job_ids() == []
    assert len(smtpd.handler.envelopes) == count


def test_send_now_racing_the_scheduler_sends_one_mail(app, live_db, make_smtpd, processes):
    """The supplier's "send now" job and the scheduler's dispatch, two processes let go at the same instant."""
    handler = SlowDataHandler(delay=0.3)  # the first sender is still in SMTP when the other one looks
    server = make_smtpd(handler)
    organisation_id, reminders = _due(live_db, 1, send_at=utcnow() + timedelta(days=1))
    [(reminder_id, address)] = reminders.items()
    user = make_user(live_db, live_db.get(Organisation, organisation_id))
    schedule.send_now(live_db, organisation_id, reminder_id, actor_user_id=user.id)
    live_db.commit()
    live_db.close()

    racers = [
        _dispatcher(processes, app, server.url, entry="job", DULY_TEST_GATE="1"),  # the "send now" job
        _dispatcher(processes, app, server.url, entry="dispatch", DULY_TEST_GATE="1"),  # the scheduler's
    ]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready", _finish(racer)
    for racer in racers:
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = []
    for racer in racers:
        code, out, err = _finish(racer)
        assert code == 0, out + err
        results.append(_counts(out))

    assert sorted(results, key=len) == [{}, {"sent": 1}]
    assert handler.data_commands == 1 and _per_recipient(handler) == {address: 1}
    assert _states(live_db, [reminder_id])[reminder_id].status == "sent"


def _race(app, smtp_url: str, dispatchers: int = 2) -> list[Counter]:
    """``dispatchers`` threads, each with its own session and connection, let go together by a barrier."""
    barrier = threading.Barrier(dispatchers)
    totals: list[Counter] = []

    def run():
        with app.app_context():
            from portal.extensions import db

            try:
                db.session.execute(select(1))
                db.session.rollback()
                barrier.wait(timeout=PROCESS_DEADLINE)
                totals.append(dispatch(db.session, smtp_url=smtp_url, config=app.config))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(dispatchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PROCESS_DEADLINE)
    assert not any(thread.is_alive() for thread in threads), "a dispatcher hung"
    return totals


def test_send_now_racing_the_scheduler_in_threads_round_after_round(app, live_db, smtpd):
    """Ten rounds of the same race, in threads released by a barrier: one mail per reminder every time."""
    rounds = 10
    organisation_id, reminders = _due(live_db, rounds, send_at=utcnow() + timedelta(days=1))
    user_id = make_user(live_db, live_db.get(Organisation, organisation_id)).id
    live_db.commit()

    for reminder_id, address in reminders.items():
        schedule.send_now(live_db, organisation_id, reminder_id, actor_user_id=user_id)
        live_db.commit()
        live_db.close()
        totals = _race(app, smtpd.url)
        assert sorted(sum(counts.values()) for counts in totals) == [0, 1]
        assert _per_recipient(smtpd.handler)[address] == 1

    assert _per_recipient(smtpd.handler) == dict.fromkeys(reminders.values(), 1)
    assert _by_status(_states(live_db, reminders)) == {"sent": rounds}
