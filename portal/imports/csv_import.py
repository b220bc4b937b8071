"""CSV import of invoices and credit notes: sniffing, header mapping, a preview of each bad row, all or nothing.

A file is read twice from its bytes, never held as a list of rows: the first pass checks every row (and asks the
database, a chunk at a time, which numbers already exist) and stores nothing; the second, only when the first found
no error, creates the debtors and invoices inside a savepoint, flushing a chunk at a time. What stays in memory grows
with the distinct invoice numbers and debtors of the file (for the duplicate checks), not with ORM objects.

The steps, each a module: csv_read (bytes to rows of text), csv_mapping (which column holds which field), csv_parse
(a row to typed values, or its errors), csv_check (the first pass) and csv_write (the second).
"""

from sqlalchemy.orm import Session

from portal.imports.csv_check import Preview, check_file, checked_rows
from portal.imports.csv_write import Progress, write_rows
from portal.imports.result import ImportRefused, ImportResult


def preview_csv(session: Session, organisation_id: int, content: bytes, mapping: dict | None = None) -> Preview:
    """Check a file without storing anything: the mapping it would use, its first rows and every bad row.

    A file that cannot be read at all (not text, no columns) gives a preview with that one error.
    """
    try:
        preview, _ = check_file(session, organisation_id, content, mapping)
    except ImportRefused as exc:
        return Preview(headers=[], mapping={}, format=None, errors=exc.errors)
    return preview


def import_csv(
    session: Session,
    organisation_id: int,
    content: bytes,
    *,
    mapping: dict | None = None,
    actor_user_id: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import every row of the file, or none: ImportRefused lists the bad rows and nothing is stored.

    Checks the whole file first, then creates debtors and documents inside a savepoint of the caller's transaction
    (the caller commits), calling ``progress(done, total)`` every CHUNK rows. The mapping used is remembered for
    the organisation's next file. ``invoice_ids`` holds the first MAX_INVOICE_IDS ids only.
    """
    preview, plan = check_file(session, organisation_id, content, mapping)
    if not preview.ok:
        refused = ImportRefused(preview.all_errors())
        refused.error_count = preview.error_count  # the errors listed are capped; this counts them all
        raise refused
    return write_rows(
        session,
        organisation_id,
        checked_rows(content, plan),
        new_debtors=plan.new_debtor_names,
        mapping=preview.mapping,
        total=preview.rows,
        actor_user_id=actor_user_id,
        progress=progress,
    )
