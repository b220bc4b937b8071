"""CSV exports against formulas for every delimiter (issue 16, case 8). Before: only a cell starting with = + - @
was defused, and cells were quoted only when they held a comma, so a payer's EndToEndId "B-2;=1+1" reached the
payments export unquoted, and a European Excel (which splits on ";") ran its second part as a formula."""

import csv
import io
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.bank.generate import Credit, camt053
from portal.bank.models import BankTransaction
from portal.csv_export import neutralise
from tests.cockpit.conftest import org, signed_in  # noqa: F401 - fixtures of the cockpit's tests
from tests.cockpit.test_bank import _quiet_progress, _upload  # noqa: F401 - the upload as the supplier does it
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice

ATTACK = "B-2;=1+1"


def test_a_payers_end_to_end_id_reaches_the_payments_export_defused(client, db_session, org, signed_in):  # noqa: F811
    debtor = make_debtor(db_session, org, name="Ann B.V.")
    invoice = make_invoice(db_session, debtor, "80.00", number="A-2", days_overdue=3)
    statement = camt053(
        "NL91ABNA0417164300", date(2026, 11, 20), [Credit(Decimal("80.00"), name="Ann", end_to_end=ATTACK)]
    )
    _upload(client, statement, db_session=db_session)
    tx = db_session.scalar(select(BankTransaction))
    detail = client.get(f"/cockpit/bank/transactions/{tx.id}").text
    matched = client.post(
        f"/cockpit/bank/transactions/{tx.id}/match",
        data={"csrf_token": csrf_from(detail), "invoice_ids": [str(invoice.id)]},
    )
    assert matched.status_code == 303

    export = client.get("/cockpit/bank/export.csv").text.removeprefix("\ufeff")

    assert ATTACK not in export  # nowhere a ";" followed by a formula, quoted or not
    assert '"B-2;\'=1+1"' in export and ",80.00," in export  # the text quoted and defused, the amount a number
    for delimiter in (";", "\t", "|"):  # the file as spreadsheets in other locales split it
        for row in csv.reader(io.StringIO(export), delimiter=delimiter):
            assert not any(cell.lstrip(' "').startswith(("=", "+", "@")) for cell in row), row


def test_every_part_a_spreadsheet_may_split_a_cell_into_is_defused():
    assert neutralise("B-2;=1+1") == "B-2;'=1+1"
    assert neutralise("ref, +31 6 123") == "ref, '+31 6 123"
    assert neutralise('x;"@SUM(A1)') == "x;\"'@SUM(A1)"
    assert neutralise("line\n-2") == "line\n'-2"
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("B-2") == "B-2" and neutralise("Ann B.V.") == "Ann B.V."
    assert neutralise(Decimal("-20.00")) == Decimal("-20.00")  # numbers stay numbers
