"""CSV import: all or nothing, and the format told from the content."""

import pytest

from portal.debtors.models import Debtor
from portal.imports.csv_import import import_csv
from portal.imports.result import ImportRefused
from portal.imports.service import detect_format
from tests.factories import make_debtor, make_invoice
from tests.imports.csv_files import BAD, DATA, DUTCH, counts, csv_file


def test_a_file_with_bad_rows_stores_nothing_and_the_fixed_file_imports(db_session, org):
    make_invoice(db_session, make_debtor(db_session, org, number="D0"), number="F-OLD")
    before = counts(db_session, org)

    with pytest.raises(ImportRefused) as refused:
        import_csv(db_session, org.id, csv_file(*BAD), progress=lambda done, total: pytest.fail("no progress"))
    assert [e.row for e in refused.value.errors] == [2, 3, 4, 5, 8, 9, 10, 12, 13]
    assert counts(db_session, org) == before

    fixed = (
        DUTCH,
        "F-1;D1;Alpha;23-11-2026;23-12-2026;12,30;",
        "F-2;D1;Alpha;30-11-2026;23-12-2026;10,00;",
        "F-3;D1;Alpha;23-11-2026;23-12-2026;10,00;",
        "F-4;D1;Alpha;23-11-2026;24-11-2026;10,00;",
        "F-5;D1;Alpha;23-11-2026;23-12-2026;10,00;",
        "",
        "F-6;D1;Alpha;24-11-2026;24-12-2026;11,00;",
        "F-9;D1;Alpha;23-11-2026;23-12-2026;10,00;",
        "F-10;D1;Alpha;23-11-2026;23-12-2026;10,00;;;",
        "F-11;D9;Nine;23-11-2026;23-12-2026;10,00;",
        "F-12;D1;Alpha;23-11-2026;;-5,00;",
    )
    result = import_csv(db_session, org.id, csv_file(*fixed))
    assert result.summary() == "invoices=9 credit_notes=1 debtors_created=2 allocated=0"
    after = counts(db_session, org)
    assert after["Invoice"] == before["Invoice"] + 10 and after["Debtor"] == before["Debtor"] + 2
    assert after["Event"] == before["Event"] + 12  # one per document and per new debtor
    assert after["ImportMapping"] == 1


def test_a_refusal_leaves_the_callers_transaction_alone(db_session, org):
    debtor = make_debtor(db_session, org)
    with pytest.raises(ImportRefused):
        import_csv(db_session, org.id, csv_file(DUTCH, "F-1;D1;Alpha;23-11-2026;23-12-2026;abc;"))
    assert db_session.get(Debtor, debtor.id) is debtor and debtor.name


def test_the_format_is_detected_from_the_content():
    ubl = (DATA / "base-example.xml").read_bytes()
    assert detect_format("invoice.xml", ubl) == "ubl"
    assert detect_format("invoice.csv", ubl) == "ubl"  # the content decides
    assert detect_format("x", b'\xef\xbb\xbf  <Invoice xmlns="urn:oasis:names:specification:ubl">') == "ubl"
    assert detect_format("x", b"<ubl:CreditNote xmlns:ubl='urn:x'>") == "ubl"
    assert detect_format("invoices.xml", csv_file(DUTCH, "F-1;D1;A;1-1-2026;1-2-2026;1,00;")) == "csv"
    assert detect_format("x.csv", b"Invoice;Total\nF-1;1\n") == "csv"
