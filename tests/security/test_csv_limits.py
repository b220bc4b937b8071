"""A CSV cell beyond the csv module's field limit (issue 16, case 9): the file is refused, saying which row, and
nothing is imported. Before: the delimiter sniffing read the row with csv and its "field larger than field limit"
error was a 500 on upload (and a failed job in the worker)."""

import re

import pytest
from sqlalchemy import func, select

from portal.imports.csv_import import import_csv
from portal.imports.result import ImportRefused
from portal.invoices.models import Invoice
from tests.cockpit.conftest import org, signed_in  # noqa: F401 - fixtures of the cockpit's tests
from tests.cockpit.test_imports import upload

HEADER = "Factuurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag\n"
GOOD_ROW = "F-1;Bakkerij Brood;01-11-2026;01-12-2026;1.234,56\n"
LONG = "x" * 131_073  # one more than Python's csv.field_size_limit()


def _invoices(db_session, org) -> int:  # noqa: F811
    return db_session.scalar(select(func.count(Invoice.id)).where(Invoice.organisation_id == org.id))


@pytest.mark.parametrize("row", [f"F-2;{LONG};02-11-2026;02-12-2026;10,00\n", f'F-2;"{LONG}\n'])
def test_an_overlong_cell_refuses_the_file_naming_its_row(client, db_session, org, signed_in, row):  # noqa: F811
    content = (HEADER + GOOD_ROW + row + GOOD_ROW.replace("F-1", "F-3")).encode()

    response = upload(client, "long.csv", content)

    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert re.search(r"Row 3\b.*a value is longer than 131,072 characters", page.text, flags=re.S)
    assert "Import 3 rows" not in page.text and "Import 2 rows" not in page.text
    with pytest.raises(ImportRefused) as refused:
        import_csv(db_session, org.id, content)  # what the worker runs
    assert [(e.row, e.message) for e in refused.value.errors] == [
        (3, "a value is longer than 131,072 characters (is a quote left open?)")
    ]
    assert _invoices(db_session, org) == 0


def test_an_overlong_header_is_refused_naming_its_row(client, db_session, org, signed_in):  # noqa: F811
    response = upload(client, "long.csv", (f"Factuurnummer;{LONG}\n" + GOOD_ROW).encode())

    page = client.get(response.headers["Location"]).text
    assert re.search(r"Row 1\b.*a value is longer than 131,072 characters", page, flags=re.S)
    assert _invoices(db_session, org) == 0
