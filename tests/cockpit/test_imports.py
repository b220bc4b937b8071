"""The import pages: upload, preview with errors, fix, import through the batch, UBL with its credit note."""

import io
import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from portal.imports.models import ImportBatch, ImportMapping
from portal.imports.service import run_batch
from portal.invoices.models import Invoice
from tests.conftest import csrf_from

DATA = Path(__file__).resolve().parents[1] / "data"
BAD = (
    "Factuurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag\n"
    "F-1;Bakkerij Brood;01-11-2026;01-12-2026;1.234,56\n"
    "F-2;Bakkerij Brood;02-11-2026;31-31-2026;10,00\n"
    "F-3;Café Hoek;03-11-2026;03-12-2026;twaalf\n"
)
GOOD = BAD.replace("31-31-2026", "02-12-2026").replace("twaalf", "12,00")


def upload(client, name: str, content: bytes):
    token = csrf_from(client.get("/cockpit/imports").text)
    return client.post(
        "/cockpit/imports",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def invoice_count(db_session, org) -> int:
    return db_session.scalar(select(func.count(Invoice.id)).where(Invoice.organisation_id == org.id))


def test_csv_with_bad_rows_is_previewed_refused_then_fixed(client, db_session, org, signed_in):
    response = upload(client, "export.csv", BAD.encode("cp1252"))
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "2 problems" in page
    assert re.search(r"Row 3 \(due_date\)", page) and re.search(r"Row 4 \(total\)", page)
    assert "Import 3 rows" not in page  # no import button while the file has errors
    assert invoice_count(db_session, org) == 0

    response = upload(client, "export-fixed.csv", GOOD.encode("cp1252"))
    page = client.get(response.headers["Location"]).text
    assert "problem" not in page and "Import 3 rows" in page and "Café Hoek" in page
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    token = csrf_from(page)
    mapping = dict(re.findall(r'name="(map_\w+)" value="([^"]*)"', page))
    response = client.post(f"/cockpit/imports/{batch_id}/run", data={"csrf_token": token, **mapping})
    assert response.status_code == 303
    assert db_session.get(ImportBatch, batch_id).status == "queued"
    assert run_batch(db_session, batch_id) == "done"  # what the worker does
    page = client.get(f"/cockpit/imports/{batch_id}").text
    assert "Imported: invoices=3" in page
    assert invoice_count(db_session, org) == 3
    total = db_session.scalar(select(Invoice.total).where(Invoice.number == "F-1", Invoice.organisation_id == org.id))
    assert total == Decimal("1234.56")
    remembered = db_session.scalar(select(ImportMapping.mapping).where(ImportMapping.organisation_id == org.id))
    assert remembered["number"] == "Factuurnummer"


def test_progress_fragment_polls_until_done(client, db_session, org, signed_in):
    response = upload(client, "export.csv", GOOD.encode())
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(
        f"/cockpit/imports/{batch_id}/run",
        data={"csrf_token": csrf_from(client.get(f"/cockpit/imports/{batch_id}").text)},
    )
    fragment = client.get(f"/cockpit/imports/{batch_id}/progress", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and 'hx-trigger="every 1s"' in fragment and "<progress" in fragment
    run_batch(db_session, batch_id)
    fragment = client.get(f"/cockpit/imports/{batch_id}/progress", headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in fragment and "Imported" in fragment


def test_ubl_invoice_and_its_credit_note(client, db_session, org, signed_in):
    for name in ("base-example.xml", "base-creditnote-correction.xml"):
        response = upload(client, name, (DATA / name).read_bytes())
        batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
        assert db_session.get(ImportBatch, batch_id).status == "queued"  # e-invoices need no mapping
        assert run_batch(db_session, batch_id) == "done"
    invoice = db_session.scalar(
        select(Invoice).where(
            Invoice.organisation_id == org.id, Invoice.number == "Snippet1", Invoice.kind == "invoice"
        )
    )
    assert invoice.open_amount == Decimal("0.00") and invoice.status == "paid"
    listing = client.get("/cockpit/imports").text
    assert "base-creditnote-correction.xml" in listing and "credit_notes=1" in listing


def test_refused_ubl_shows_why(client, db_session, org, signed_in):
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Invoice>&a;</Invoice>'
    response = upload(client, "evil.xml", hostile)
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert run_batch(db_session, batch_id) == "failed"
    page = client.get(f"/cockpit/imports/{batch_id}").text
    assert "Nothing was imported" in page and "File" in page
    assert invoice_count(db_session, org) == 0


def test_empty_upload_is_refused_with_a_message(client, db_session, org, signed_in):
    token = csrf_from(client.get("/cockpit/imports").text)
    response = client.post("/cockpit/imports", data={"csrf_token": token}, follow_redirects=True)
    assert "Choose a CSV file" in response.text


TWO_AMOUNTS = (
    "Factuurnummer;Klant;Factuurdatum;Vervaldatum;gross;net\n{n};Klant A;01-11-2026;01-12-2026;121,00;100,00\n"
)


def queue_with(client, name, content, **mapping):
    response = upload(client, name, content.encode())
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    token = csrf_from(client.get(f"/cockpit/imports/{batch_id}").text)
    data = {"csrf_token": token, **{f"map_{k}": v for k, v in mapping.items()}}
    assert client.post(f"/cockpit/imports/{batch_id}/run", data=data).status_code == 303
    return batch_id


def test_each_batch_imports_with_the_mapping_its_user_confirmed(client, db_session, org, signed_in):
    first = queue_with(client, "a.csv", TWO_AMOUNTS.format(n="M-1"), total="gross")
    second = queue_with(client, "b.csv", TWO_AMOUNTS.format(n="M-2"), total="net")  # remembered now: net
    assert run_batch(db_session, first) == "done" and run_batch(db_session, second) == "done"
    totals = dict(
        db_session.execute(select(Invoice.number, Invoice.total).where(Invoice.organisation_id == org.id)).all()
    )
    assert totals == {"M-1": Decimal("121.00"), "M-2": Decimal("100.00")}


def test_not_in_this_file_unmaps_a_guessed_column(client, db_session, org, signed_in):
    content = (
        "Factuurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag;Soort\nK-1;Klant;01-11-2026;01-12-2026;5,00;Standaard\n"
    )
    response = upload(client, "kind.csv", content.encode())
    url = response.headers["Location"]
    assert "unknown kind" in client.get(url).text  # "Soort" is guessed to be the kind column
    page = client.get(
        url + "?map_kind=&map_number=Factuurnummer&map_debtor_name=Klant&map_issue_date=Factuurdatum"
        "&map_due_date=Vervaldatum&map_total=Bedrag"
    ).text
    assert "unknown kind" not in page and "Import 1 row" in page
    batch_id = int(url.rsplit("/", 1)[1])
    mapping = dict(re.findall(r'name="(map_\w+)" value="([^"]*)"', page))
    assert mapping["map_kind"] == ""
    client.post(f"/cockpit/imports/{batch_id}/run", data={"csrf_token": csrf_from(page), **mapping})
    assert run_batch(db_session, batch_id) == "done"
