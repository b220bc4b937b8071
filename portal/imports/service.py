"""One entry for every import: detect the format, import a file now, or keep it as a batch for the worker.

A batch moves uploaded -> queued -> running -> done | failed. The worker's run_batch claims it (committed), imports
in one transaction and publishes progress through a connection of its own, so that a page can poll rows_done while
the import itself stays uncommitted until it is whole.
"""

import logging
import re
from dataclasses import asdict
from datetime import timedelta

from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.imports.csv_check import MAX_ERRORS
from portal.imports.csv_import import import_csv
from portal.imports.csv_mapping import remember_mapping
from portal.imports.csv_write import Progress
from portal.imports.models import ImportBatch
from portal.imports.result import ImportRefused, ImportResult, RowError
from portal.imports.ubl import import_ubl
from portal.jobs import enqueue_after_commit
from portal.types import utcnow

log = logging.getLogger(__name__)

JOB = "workers.jobs.run_import"
PROGRESS_EVERY = 500  # rows between progress commits
MAX_STORED_ERRORS = MAX_ERRORS + 1  # the CSV import's listed errors and its line saying how many more
_XML_ROOT = re.compile(rb"<(?:[\w.-]+:)?(?:Invoice|CreditNote)\b")


def detect_format(filename: str, content: bytes) -> str:
    """The file's format by its content, whatever it is called: "ubl" for an XML document, else "csv"."""
    head = content[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith((b"<?xml", b"<!--")) or _XML_ROOT.match(head):
        return "ubl"
    return "csv"


def import_file(
    session: Session,
    organisation_id: int,
    filename: str,
    content: bytes,
    *,
    mapping: dict | None = None,
    actor_user_id: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a CSV or UBL file in the caller's transaction (the caller commits); ImportRefused stores nothing.

    ``mapping`` (field -> CSV header) applies to CSV files only.
    """
    if detect_format(filename, content) == "ubl":
        result = import_ubl(session, organisation_id, content, actor_user_id=actor_user_id)
        if progress:
            documents = result.invoices + result.credit_notes
            progress(documents, documents)
        return result
    return import_csv(
        session, organisation_id, content, mapping=mapping, actor_user_id=actor_user_id, progress=progress
    )


def create_batch(
    session: Session,
    organisation_id: int,
    filename: str,
    content: bytes,
    actor_user_id: int | None = None,
    *,
    enqueue: bool = True,
) -> ImportBatch:
    """Keep an uploaded file for the worker. With ``enqueue`` (the default) it is queued and its job enqueued
    once the caller commits; without, it waits as "uploaded" for queue_batch() (e.g. after a preview)."""
    batch = ImportBatch(
        organisation_id=organisation_id,
        kind=detect_format(filename, content),
        filename=(filename or "upload")[-255:],
        content=content,
        status="uploaded",
        created_by_id=actor_user_id,
    )
    session.add(batch)
    session.flush()
    if enqueue:
        queue_batch(session, batch)
    return batch


def queue_batch(session: Session, batch: ImportBatch, *, mapping: dict[str, str] | None = None) -> None:
    """uploaded | previewed -> queued; the job is enqueued after the caller's commit.

    ``mapping`` (field -> CSV header, e.g. as confirmed on a preview) becomes the organisation's remembered
    mapping, which is the one the worker uses.
    """
    if batch.status not in ("uploaded", "previewed"):
        return
    if mapping and batch.kind == "csv":
        batch.mapping = dict(mapping)
        remember_mapping(session, batch.organisation_id, mapping)
    batch.status = "queued"
    session.flush()
    enqueue_after_commit(session, JOB, batch.id)


class ProgressWriter:
    """Publishes rows_done/rows_total in short transactions of its own, never the import's.

    SQLite has one writer at a time and the import holds it: there the progress shows at the end only.
    """

    def __init__(self, session: Session, batch_id: int, model=None):
        self.model = model or ImportBatch  # also bank statements (portal.bank.service), which have the same columns
        bind = session.get_bind()
        engine: Engine = getattr(bind, "engine", bind)
        self.engine = None if engine.dialect.name == "sqlite" else engine
        self.batch_id = batch_id
        self.reported = -1

    def __call__(self, done: int, total: int) -> None:
        if self.engine is None or (self.reported >= 0 and done - self.reported < PROGRESS_EVERY and done != total):
            return
        self.reported = done
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                conn.execute(
                    update(self.model)
                    .where(self.model.id == self.batch_id, self.model.status == "running")
                    .values(rows_done=done, rows_total=total)
                )
        except Exception:  # progress is for the eye; it must never stop the import
            log.warning("import batch %s: could not publish progress", self.batch_id, exc_info=True)


def _claim(session: Session, batch_id: int) -> bool:
    """queued (or uploaded/previewed) -> running, committed: a second run of the job finds it taken."""
    result = session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id, ImportBatch.status.in_(("uploaded", "previewed", "queued")))
        .values(status="running", rows_done=0, rows_total=0, errors=[], summary="", started_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def _stored_errors(errors: list[RowError]) -> list[dict]:
    kept = [asdict(error) for error in errors[:MAX_STORED_ERRORS]]
    if len(errors) > MAX_STORED_ERRORS:
        kept.append({"row": 0, "field": "", "message": f"{len(errors) - MAX_STORED_ERRORS} more error(s) not listed"})
    return kept


def run_batch(session: Session, batch_id: int) -> str:
    """Import a queued batch, all or nothing, and return its final status; safe to call again for the same batch.

    A batch that is running, done or failed is left alone. Commits: the claim, then the import together with
    the batch's "done", or (after a rollback of the import) the batch's "failed" with the reasons.
    """
    if not _claim(session, batch_id):
        batch = session.get(ImportBatch, batch_id)
        return batch.status if batch else "missing"
    batch = session.get(ImportBatch, batch_id, populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        # One import at a time per organisation: two imports writing the same due dates' summary rows in
        # different orders would deadlock. Held until this import's transaction ends. (SQLite has one writer.)
        session.execute(text("SELECT pg_advisory_xact_lock(4242, :org)"), {"org": batch.organisation_id})
    progress = ProgressWriter(session, batch_id)
    try:
        result = import_file(
            session,
            batch.organisation_id,
            batch.filename,
            batch.content,
            mapping=batch.mapping,
            actor_user_id=batch.created_by_id,
            progress=progress,
        )
    except ImportRefused as exc:
        session.rollback()
        count = getattr(exc, "error_count", len(exc.errors))
        summary = f"refused: {count} error(s), nothing imported"
        _finish(session, batch_id, "failed", errors=_stored_errors(exc.errors), summary=summary)
        return "failed"
    except Exception:
        session.rollback()
        message = "the import stopped on an unexpected error; nothing was imported"
        log.exception("import batch %s failed", batch_id)
        _finish(session, batch_id, "failed", errors=[{"row": 0, "field": "", "message": message}], summary=message)
        raise
    documents = result.invoices + result.credit_notes
    _finish(
        session,
        batch_id,
        "done",
        rows_total=documents,
        rows_done=documents,
        summary=result.summary(),
        content=b"",  # kept until imported
    )
    return "done"


def _finish(session: Session, batch_id: int, status: str, **values) -> None:
    batch = session.get(ImportBatch, batch_id)
    batch.status = status
    batch.finished_at = utcnow()
    for key, value in values.items():
        setattr(batch, key, value)
    session.commit()


RUNNING_LEASE = timedelta(minutes=65)  # longer than the job timeout (portal/jobs.py): the worker is gone by then
DOORBELL_GRACE = timedelta(minutes=2)


def sweep(session: Session, now=None) -> list[int]:
    """What Redis or a dead worker left behind: queued batches to enqueue again, stale runs to mark failed.

    An import commits as a whole, so a run whose worker died stored nothing: it is failed with that reason rather
    than retried, since the file itself may be what killed the worker.
    """
    now = now or utcnow()
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.status == "running", ImportBatch.started_at < now - RUNNING_LEASE)
        .values(
            status="failed",
            finished_at=now,
            summary="the worker stopped during the import; nothing was imported",
            errors=[{"row": 0, "field": "", "message": "the worker stopped during the import; upload the file again"}],
        )
        .execution_options(synchronize_session=False)
    )
    due = list(
        session.scalars(
            select(ImportBatch.id).where(ImportBatch.status == "queued", ImportBatch.created_at < now - DOORBELL_GRACE)
        )
    )
    session.commit()
    return due
