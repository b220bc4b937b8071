"""Import batches: the service that runs them, and a real `rq worker` importing a big file with progress."""

import subprocess
import time

import pytest
from rq.job import Job
from sqlalchemy import func, select

from portal.imports import service
from portal.imports.models import ImportBatch
from portal.imports.result import ImportRefused, ImportResult, RowError
from portal.invoices.models import Invoice
from tests.conftest import DB_BACKEND
from tests.factories import make_organisation, make_user
from tests.mail.conftest import rq_queue  # noqa: F401 - the private queue fixture
from tests.mail.rq_queue import job_ids
from tests.processes import PROCESS_DEADLINE, ROOT, child_env, rq_worker_command

HEADER = "Factuurnummer;Debiteurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag"


def big_file(rows: int, prefix: str = "B") -> bytes:
    lines = [HEADER]
    for n in range(rows):
        debtor = n % 250
        lines.append(f"{prefix}-{n};D{debtor};Klant {debtor};01-10-2026;31-10-2026;{n % 997 + 1},{n % 100:02d}")
    return ("\r\n".join(lines) + "\r\n").encode()


def invoice_count(session, organisation_id: int) -> int:
    return session.scalar(select(func.count()).where(Invoice.organisation_id == organisation_id))


def fresh(session, batch_id: int) -> ImportBatch:
    session.expire_all()
    return session.get(ImportBatch, batch_id)


@pytest.fixture
def worker(app, live_db, rq_queue):  # noqa: F811
    """Starts `rq worker --burst` on the private queue; returns the Popen (the caller waits for it)."""

    def start() -> subprocess.Popen:
        live_db.commit()  # on SQLite every transaction holds the write lock: end the test's own first
        env = child_env(app, queue=rq_queue.name)
        command = rq_worker_command(app.config["REDIS_URL"], rq_queue.name)
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    return start


def finish(process: subprocess.Popen, rq_queue) -> str:  # noqa: F811
    output, _ = process.communicate(timeout=PROCESS_DEADLINE)
    assert process.returncode == 0, output
    assert rq_queue.count == 0, output
    return output


@pytest.fixture
def quick_cleanup(app, live_db):
    """On SQLite, live_db's DELETE of 20,000 invoices checks invoices.corrects_invoice_id (no index) for each
    one: minutes. Drop this test's documents first, with foreign keys off for that connection alone."""
    yield
    if DB_BACKEND != "sqlite":
        return
    from portal.extensions import db

    live_db.remove()
    raw = db.engine.raw_connection()
    try:
        sqlite = raw.driver_connection  # autocommit: the app's connect hook leaves transactions to SQLAlchemy
        sqlite.execute("PRAGMA foreign_keys=OFF")
        for table in ("events", "invoices"):
            sqlite.execute(f"DELETE FROM {table}")
        sqlite.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()


# --- the worker -------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("quick_cleanup")
def test_a_big_file_imports_through_the_worker_with_progress(app, live_db, rq_queue, worker):  # noqa: F811
    from portal.extensions import db

    organisation = make_organisation(live_db)
    user = make_user(live_db, organisation)
    content = big_file(20_000)
    batch = service.create_batch(live_db, organisation.id, "big.csv", content, user.id)
    assert batch.status == "queued" and batch.kind == "csv"
    assert rq_queue.count == 0  # the job waits for the commit
    live_db.commit()
    [job_id] = rq_queue.job_ids

    process = worker()
    seen = []
    if DB_BACKEND != "sqlite":  # SQLite has one writer, which the import holds: its progress shows at the end
        while process.poll() is None:
            with db.engine.connect() as conn:
                seen.append(
                    conn.execute(
                        select(ImportBatch.status, ImportBatch.rows_done, ImportBatch.rows_total).where(
                            ImportBatch.id == batch.id
                        )
                    ).one()
                )
            time.sleep(0.1)
    output = finish(process, rq_queue)

    done = fresh(live_db, batch.id)
    assert (done.status, done.rows_done, done.rows_total) == ("done", 20_000, 20_000), (done.errors, output)
    assert done.summary == "invoices=20000 credit_notes=0 debtors_created=250 allocated=0"
    assert done.errors == [] and done.finished_at is not None and done.content == b""
    assert invoice_count(live_db, organisation.id) == 20_000
    assert Job.fetch(job_id, connection=rq_queue.connection).return_value() == "done"
    if DB_BACKEND != "sqlite":
        running = [(d, t) for status, d, t in seen if status == "running" and t]
        assert running, seen
        assert all(t == 20_000 for _, t in running)
        assert any(0 < d < 20_000 for d, _ in running), seen  # progress was visible while the import ran
        assert [d for d, _ in running] == sorted(d for d, _ in running)


def test_the_job_imports_a_batch_once_even_when_it_runs_again(live_db, rq_queue, worker):  # noqa: F811
    organisation = make_organisation(live_db)
    batch = service.create_batch(live_db, organisation.id, "small.csv", big_file(3, "S"))
    live_db.commit()
    [job_id] = rq_queue.job_ids
    finish(worker(), rq_queue)
    assert fresh(live_db, batch.id).status == "done"

    # RQ requeues a job whose worker it thinks is dead: the same job runs a second time.
    rq_queue.enqueue_job(Job.fetch(job_id, connection=rq_queue.connection))
    rq_queue.enqueue("workers.jobs.run_import", batch.id)
    finish(worker(), rq_queue)
    assert invoice_count(live_db, organisation.id) == 3
    ran = [Job.fetch(i, connection=rq_queue.connection) for i in job_ids(rq_queue)]
    assert sorted(job.return_value() for job in ran) == ["done", "done"]
    assert fresh(live_db, batch.id).summary == "invoices=3 credit_notes=0 debtors_created=3 allocated=0"


def test_a_refused_file_fails_its_batch_through_the_worker(live_db, rq_queue, worker):  # noqa: F811
    organisation = make_organisation(live_db)
    content = (HEADER + "\nX-1;D1;Klant;01-10-2026;31-10-2026;abc\nX-2;D1;Klant;31-09-2026;31-10-2026;1,00\n").encode()
    batch = service.create_batch(live_db, organisation.id, "bad.csv", content)
    live_db.commit()
    finish(worker(), rq_queue)
    failed = fresh(live_db, batch.id)
    assert failed.status == "failed" and failed.summary == "refused: 2 error(s), nothing imported"
    assert failed.errors == [
        {"row": 2, "field": "total", "message": "not an amount: 'abc'"},
        {"row": 3, "field": "issue_date", "message": "no such date: '31-09-2026'"},
    ]
    assert failed.content == content  # kept: only an imported file is let go
    assert invoice_count(live_db, organisation.id) == 0


def test_the_job_function_in_process(app, live_db, rq_queue, monkeypatch):  # noqa: F811
    import workers
    from workers import jobs

    organisation = make_organisation(live_db)
    batch = service.create_batch(live_db, organisation.id, "in.csv", big_file(2, "I"), enqueue=False)
    batch_id = batch.id
    assert batch.status == "uploaded"
    live_db.commit()  # and no reading after it: on SQLite a read would hold the write lock the job needs
    assert rq_queue.count == 0
    monkeypatch.setattr(workers, "_app", app)  # the job's app is this test's app, not one built from os.environ

    assert jobs.run_import(batch_id) == "done"
    assert jobs.run_import(batch_id) == "done"
    assert jobs.run_import(10**9) == "missing"
    assert invoice_count(live_db, organisation.id) == 2


# --- the service ------------------------------------------------------------------------------------------------


def test_a_batch_is_enqueued_only_after_the_commit(db_session, rq_queue):  # noqa: F811
    organisation = make_organisation(db_session)
    batch = service.create_batch(db_session, organisation.id, "a.csv", big_file(1))
    assert rq_queue.count == 0
    db_session.commit()
    assert [(job.func_name, job.args) for job in rq_queue.get_jobs()] == [("workers.jobs.run_import", (batch.id,))]

    held = service.create_batch(db_session, organisation.id, "b.csv", big_file(1), enqueue=False)
    db_session.commit()
    assert rq_queue.count == 1 and held.status == "uploaded"
    service.queue_batch(db_session, held, mapping={"number": "Factuurnummer", "total": "Bedrag"})
    db_session.commit()
    assert held.status == "queued" and rq_queue.count == 2
    from portal.imports.csv_mapping import remembered_mapping

    assert remembered_mapping(db_session, organisation.id) == {"number": "Factuurnummer", "total": "Bedrag"}
    service.queue_batch(db_session, held)  # already queued: nothing more
    db_session.commit()
    assert rq_queue.count == 2


def test_run_batch_imports_and_reports(db_session):
    organisation = make_organisation(db_session)
    batch = service.create_batch(db_session, organisation.id, "x" * 300 + ".csv", big_file(1200))
    assert len(batch.filename) == 255 and batch.filename.endswith(".csv")
    assert service.run_batch(db_session, batch.id) == "done"
    done = fresh(db_session, batch.id)
    assert (done.status, done.rows_done, done.rows_total) == ("done", 1200, 1200)
    assert done.summary == "invoices=1200 credit_notes=0 debtors_created=250 allocated=0"
    assert service.run_batch(db_session, batch.id) == "done"
    assert invoice_count(db_session, organisation.id) == 1200


def test_run_batch_stores_the_reasons_of_a_refusal_capped(db_session):
    organisation = make_organisation(db_session)
    rows = "".join(f"R-{n};D1;Klant;01-10-2026;31-10-2026;bad\n" for n in range(300))
    batch = service.create_batch(db_session, organisation.id, "r.csv", (HEADER + "\n" + rows).encode())
    assert service.run_batch(db_session, batch.id) == "failed"
    failed = fresh(db_session, batch.id)
    assert failed.summary == "refused: 300 error(s), nothing imported"
    assert len(failed.errors) == 201 and failed.errors[-1]["message"] == "100 more error(s) not listed"
    assert failed.errors[0] == {"row": 2, "field": "total", "message": "not an amount: 'bad'"}
    assert service.run_batch(db_session, batch.id) == "failed"  # a failed batch is not run again
    assert invoice_count(db_session, organisation.id) == 0


def test_run_batch_records_an_unexpected_error_and_raises(db_session, monkeypatch):
    organisation = make_organisation(db_session)
    batch = service.create_batch(db_session, organisation.id, "boom.csv", big_file(3))

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "import_csv", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        service.run_batch(db_session, batch.id)
    failed = fresh(db_session, batch.id)
    assert failed.status == "failed"
    assert failed.errors == [
        {"row": 0, "field": "", "message": "the import stopped on an unexpected error; nothing was imported"}
    ]


def test_import_file_hands_xml_to_the_ubl_import(db_session, monkeypatch):
    organisation = make_organisation(db_session)
    calls = []

    def fake_ubl(session, organisation_id, content, *, actor_user_id=None):
        calls.append((organisation_id, content[:5], actor_user_id))
        return ImportResult(invoices=1, invoice_ids=[42])

    monkeypatch.setattr("portal.imports.service.import_ubl", fake_ubl)
    progress = []
    result = service.import_file(
        db_session,
        organisation.id,
        "x.csv",
        b"<?xml version='1.0'?><Invoice/>",
        actor_user_id=None,
        progress=lambda *a: progress.append(a),
    )
    assert result.invoice_ids == [42] and calls == [(organisation.id, b"<?xml", None)] and progress == [(1, 1)]

    def refusing_ubl(session, organisation_id, content, *, actor_user_id=None):
        raise ImportRefused([RowError(0, "cbc:ID", "no invoice number")])

    monkeypatch.setattr("portal.imports.service.import_ubl", refusing_ubl)
    batch = service.create_batch(db_session, organisation.id, "inv.xml", b"<Invoice xmlns='urn:x'/>")
    assert batch.kind == "ubl"
    assert service.run_batch(db_session, batch.id) == "failed"
    assert fresh(db_session, batch.id).errors == [{"row": 0, "field": "cbc:ID", "message": "no invoice number"}]
