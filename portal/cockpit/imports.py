"""Cockpit: importing invoices from CSV or UBL files - upload, preview with the column mapping, progress."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.imports import csv_import
from portal.imports import service as imports
from portal.imports.csv_mapping import FIELDS
from portal.imports.models import ImportBatch
from portal.tenancy import current_organisation_id, get_or_404, scoped

FIELD_LABELS = {
    "number": "Invoice number",
    "debtor_number": "Debtor number",
    "debtor_name": "Debtor name",
    "issue_date": "Issue date",
    "due_date": "Due date",
    "total": "Amount",
    "currency": "Currency",
    "kind": "Kind (invoice or credit note)",
    "payment_reference": "Payment reference",
    "debtor_email": "Debtor email",
}


@bp.get("/imports")
def imports_index():
    """Upload a file, and the imports done lately."""
    batches = db.session.scalars(
        scoped(ImportBatch).order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc()).limit(20)
    ).all()
    return render_template("cockpit/imports/index.html", batches=batches)


@bp.post("/imports")
@role_required("controller")
def imports_upload():
    """Keep the uploaded file; a CSV goes to its preview first, an e-invoice straight to the worker."""
    upload = request.files.get("file")
    content = upload.read() if upload else b""
    if not content:
        flash("Choose a CSV file or a UBL e-invoice (XML) to import.", "error")
        return redirect(url_for("cockpit.imports_index"), 303)
    is_csv = imports.detect_format(upload.filename or "", content) == "csv"
    batch = imports.create_batch(
        db.session,
        current_organisation_id(),
        upload.filename or "upload",
        content,
        current_user.id,
        enqueue=not is_csv,
    )
    db.session.commit()
    return redirect(url_for("cockpit.import_detail", batch_id=batch.id), 303)


def _mapping_from(args) -> dict[str, str] | None:
    """The mapping chosen on the preview; "" is "(not in this file)" and unmaps a field that would be guessed."""
    mapping = {name: args.get(f"map_{name}", "") for name in FIELDS if f"map_{name}" in args}
    return mapping or None


@bp.get("/imports/<int:batch_id>")
def import_detail(batch_id: int):
    """A batch: its preview (CSV, before importing), its progress, or its outcome."""
    batch = get_or_404(ImportBatch, batch_id)
    preview = None
    if batch.kind == "csv" and batch.status in ("uploaded", "previewed"):
        preview = csv_import.preview_csv(db.session, batch.organisation_id, batch.content, _mapping_from(request.args))
    return render_template(
        "cockpit/imports/detail.html", batch=batch, preview=preview, labels=FIELD_LABELS, fields=FIELDS
    )


@bp.get("/imports/<int:batch_id>/progress")
def import_progress(batch_id: int):
    """The progress fragment the batch page polls while the worker imports."""
    batch = get_or_404(ImportBatch, batch_id)
    return render_page_or_fragment(
        "cockpit/imports/detail.html",
        "cockpit/imports/_progress.html",
        batch=batch,
        preview=None,
        labels=FIELD_LABELS,
        fields=FIELDS,
    )


@bp.post("/imports/<int:batch_id>/run")
@role_required("controller")
def import_run(batch_id: int):
    """Import the previewed file with the confirmed column mapping (remembered for the next file)."""
    batch = get_or_404(ImportBatch, batch_id)
    imports.queue_batch(db.session, batch, mapping=_mapping_from(request.form))
    db.session.commit()
    return redirect(url_for("cockpit.import_detail", batch_id=batch.id), 303)
