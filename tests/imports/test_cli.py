"""`flask import-invoices FILE --org SLUG`: the same import as the cockpit's, with a summary line or the errors."""

import pytest
from sqlalchemy import func, select

from portal.debtors.models import Debtor
from portal.imports.models import ImportMapping
from portal.imports.result import ImportRefused, ImportResult, RowError
from portal.invoices.models import Invoice
from tests.factories import make_debtor, make_invoice, make_organisation

HEADER = "Factuurnummer;Debiteurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag"


@pytest.fixture
def org(db_session):
    organisation = make_organisation(db_session, slug="cli-org")
    db_session.commit()  # (a savepoint of the test's transaction) a refused import rolls back what was not
    return organisation


@pytest.fixture
def run(app, db_session):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["import-invoices", *args])

    return invoke


def stored(session, organisation) -> tuple[int, int]:
    invoices = session.scalar(select(func.count()).where(Invoice.organisation_id == organisation.id))
    debtors = session.scalar(select(func.count()).where(Debtor.organisation_id == organisation.id))
    return invoices, debtors


def test_a_good_file_prints_its_summary_and_is_committed(run, db_session, org, tmp_path):
    make_debtor(db_session, org, number="D1")
    path = tmp_path / "facturen.csv"
    path.write_bytes(
        (
            HEADER + "\r\n"
            "F-1;D1;Bekend;23-11-2026;23-12-2026;1.234,56\r\n"
            "F-2;D2;Café Ünïcode;23-11-2026;23-12-2026;10,00\r\n"
            "C-1;D2;Café Ünïcode;24-11-2026;;-5,00\r\n"
        ).encode("cp1252")
    )
    result = run(str(path), "--org", "cli-org")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported {path}: invoices=2 credit_notes=1 debtors_created=1 allocated=0\n"
    assert result.stderr == ""
    db_session.rollback()  # whatever was not committed goes: the import was
    assert stored(db_session, org) == (3, 2)


def test_a_bad_file_prints_each_error_exits_1_and_stores_nothing(run, db_session, org, tmp_path):
    make_invoice(db_session, make_debtor(db_session, org, number="D0"), number="F-OLD")
    db_session.commit()
    before = stored(db_session, org)
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER + "\n"
        "F-1;D1;Alpha;23-11-2026;23-12-2026;12,3x\n"
        "F-2;D1;Alpha;23-11-2026;22-11-2026;1,00\n"
        "F-OLD;D1;Alpha;23-11-2026;23-12-2026;1,00\n"
        "F-4;D1;Alpha;23-11-2026;23-12-2026;1,00\n"
    )
    result = run(str(path), "--org", "cli-org")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "row 2 (total): not an amount: '12,3x'",
        "row 3 (due_date): the due date is before the issue date",
        "row 4 (number): invoice F-OLD already exists",
        f"refused {path}: 3 error(s), nothing imported",
    ]
    db_session.rollback()
    assert stored(db_session, org) == before


def test_the_mapping_option_and_its_memory(run, db_session, org, tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text("Doc,Who,When,Until,Sum\nK-1,Kay,2026-01-05,2026-02-05,3.50\n")
    refused = run(str(path), "--org", "cli-org")
    assert refused.exit_code == 1 and "row 0" not in refused.stderr
    assert "file (number): no column is mapped to number" in refused.stderr.splitlines()

    mapping = ["number=Doc", "debtor_name=Who", "issue_date=When", "due_date=Until", "total=Sum"]
    result = run(str(path), "--org", "cli-org", *[arg for m in mapping for arg in ("--mapping", m)])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(": invoices=1 credit_notes=0 debtors_created=1 allocated=0\n")
    remembered = db_session.scalar(select(ImportMapping.mapping).where(ImportMapping.organisation_id == org.id))
    assert remembered == dict(m.split("=") for m in mapping)

    path.write_text("Doc,Who,When,Until,Sum\nK-2,Kay,2026-01-06,2026-02-06,4.50\n")
    assert run(str(path), "--org", "cli-org").exit_code == 0  # the remembered mapping does it now


def test_usage_errors(run, org, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(HEADER + "\n")
    unknown = run(str(path), "--org", "nope")
    assert unknown.exit_code == 1 and "no organisation 'nope'" in unknown.output
    bad_mapping = run(str(path), "--org", "cli-org", "--mapping", "number")
    assert bad_mapping.exit_code == 2 and "is not FIELD=HEADER" in bad_mapping.output
    missing = run(str(tmp_path / "missing.csv"), "--org", "cli-org")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    empty = run(str(path), "--org", "cli-org")
    assert empty.exit_code == 1 and "the file has a header but no rows" in empty.stderr


def test_an_xml_file_goes_to_the_ubl_import(run, db_session, org, tmp_path, monkeypatch):
    calls = []

    def fake_ubl(session, organisation_id, content, *, actor_user_id=None):
        calls.append(organisation_id)
        return ImportResult(invoices=1)

    monkeypatch.setattr("portal.imports.service.import_ubl", fake_ubl)
    path = tmp_path / "invoice.xml"
    path.write_bytes(b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>')
    result = run(str(path), "--org", "cli-org")
    assert result.exit_code == 0 and calls == [org.id]
    assert result.stdout == f"imported {path}: invoices=1 credit_notes=0 debtors_created=0 allocated=0\n"

    def refusing_ubl(session, organisation_id, content, *, actor_user_id=None):
        raise ImportRefused([RowError(0, "cbc:DueDate", "an invoice needs a due date")])

    monkeypatch.setattr("portal.imports.service.import_ubl", refusing_ubl)
    result = run(str(path), "--org", "cli-org")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "file (cbc:DueDate): an invoice needs a due date"
