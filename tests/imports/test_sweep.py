"""Import batches that Redis or a dead worker left behind are found again by the clock's sweep."""

from datetime import timedelta

from portal.imports import service as imports
from portal.imports.models import ImportBatch
from portal.types import utcnow
from tests.factories import make_organisation


def batch(db_session, org, status, *, age, started=None):
    row = ImportBatch(
        organisation_id=org.id,
        kind="csv",
        filename=f"{status}.csv",
        content=b"x",
        status=status,
        created_at=utcnow() - age,
        started_at=started,
    )
    db_session.add(row)
    db_session.flush()
    return row


def test_sweep_requeues_lost_doorbells_and_fails_dead_runs(db_session):
    org = make_organisation(db_session)
    lost = batch(db_session, org, "queued", age=timedelta(minutes=10))
    fresh = batch(db_session, org, "queued", age=timedelta(seconds=5))
    dead = batch(db_session, org, "running", age=timedelta(hours=3), started=utcnow() - timedelta(hours=2))
    alive = batch(db_session, org, "running", age=timedelta(minutes=5), started=utcnow() - timedelta(minutes=4))
    done = batch(db_session, org, "done", age=timedelta(hours=3))
    due = imports.sweep(db_session)
    assert lost.id in due and fresh.id not in due and done.id not in due
    for row in (dead, alive):
        db_session.refresh(row)
    assert dead.status == "failed" and "worker stopped" in dead.summary
    assert alive.status == "running"
    # The re-enqueued job claims the batch once; running it again does nothing.
    assert imports.run_batch(db_session, lost.id) in ("done", "failed")
    assert imports.run_batch(db_session, lost.id) == db_session.get(ImportBatch, lost.id).status
