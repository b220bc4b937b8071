"""CSV import: the preview of every bad row (in the row, in the file, against the database), capped and counted."""

import pytest

from portal.imports.csv_check import MAX_ERRORS
from portal.imports.csv_import import import_csv, preview_csv
from portal.imports.result import ImportRefused
from tests.factories import make_debtor, make_invoice
from tests.imports.csv_files import BAD, DUTCH, csv_file


def test_the_preview_lists_each_bad_row_with_its_line_and_reason(db_session, org):
    make_invoice(db_session, make_debtor(db_session, org, number="D0"), number="F-OLD")
    preview = preview_csv(db_session, org.id, csv_file(*BAD))

    assert not preview.ok
    found = [(e.row, e.field) for e in preview.errors]
    assert found == [
        (2, "total"),
        (3, "issue_date"),
        (4, "number"),
        (5, "due_date"),
        (8, "number"),
        (9, "number"),
        (10, ""),
        (12, "debtor_name"),
        (13, ""),
    ]
    messages = {e.row: e.message for e in preview.errors}
    assert "not an amount: '12,3x'" in messages[2]
    assert "no such date: '31-11-2026'" in messages[3]
    assert messages[4] == "no invoice number"
    assert messages[5] == "the due date is before the issue date"
    assert messages[8] == "invoice F-5 is also on row 6"
    assert messages[9] == "invoice F-OLD already exists"
    assert "quote" in messages[10]
    assert "debtor D9 is not known" in messages[12]
    assert "8 values where the header has 7 columns" in messages[13]
    assert str(preview.errors[0]) == "row 2 (total): not an amount: '12,3x'"
    assert preview.rows == 11 and preview.error_count == 9
    assert [row.number for row in preview.sample] == ["F-5", "F-OLD", "F-10", "F-11"]


def test_errors_are_capped_and_counted(db_session, org):
    rows = [f"F-{n};D1;Alpha;23-11-2026;23-12-2026;nope;" for n in range(250)]
    preview = preview_csv(db_session, org.id, csv_file(DUTCH, *rows))
    assert len(preview.errors) == MAX_ERRORS and preview.more_errors == 50
    assert preview.error_count == 250
    with pytest.raises(ImportRefused) as refused:
        import_csv(db_session, org.id, csv_file(DUTCH, *rows))
    assert len(refused.value.errors) == MAX_ERRORS + 1
    assert refused.value.errors[-1].message == "50 more error(s) not listed"
    assert refused.value.error_count == 250
