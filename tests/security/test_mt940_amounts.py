"""MT940 amounts (issue 16, case 12): an amount longer than the 15 characters MT940 allows is refused, saying on
which line, and nothing of the file is imported. Before: the mt940 library read the first 15 characters and handed
the rest on as a reference, so 0000000000169,95 was booked as 169.90 without a word."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.bank.models import BankStatement, BankTransaction
from portal.bank.parse import StatementError, parse
from tests.cockpit.conftest import org, signed_in  # noqa: F401 - fixtures of the cockpit's tests
from tests.cockpit.test_bank import _quiet_progress, _upload  # noqa: F401 - the upload as the supplier does it

SAMPLE = (Path(__file__).resolve().parents[1] / "data" / "sample3").read_bytes()  # Rabobank's MT940 sample
TRANSACTION = b":61:130403C000000000169,90N122NONREF"  # line 13 of the sample
CLOSING = b":62F:C130403EUR000000001190,35"  # line 28


def _with(line: bytes, longer: bytes) -> bytes:
    assert SAMPLE.count(line) == 1
    return SAMPLE.replace(line, longer)


@pytest.mark.parametrize(
    "content, where",
    [
        (_with(TRANSACTION, b":61:130403C0000000000169,95N122NONREF"), "line 13: the amount 0000000000169,95"),
        (_with(TRANSACTION, b":61:130403C1234567890123456,78N122NONREF"), "line 13: the amount 1234567890123456,78"),
        (_with(CLOSING, b":62F:C130403EUR0000000001190,35"), "line 28: the amount 0000000001190,35"),
    ],
)
def test_an_mt940_amount_longer_than_15_characters_is_refused_naming_its_line(content, where):
    with pytest.raises(StatementError, match=where):
        parse(content)


def test_the_sample_itself_still_reads():
    assert len(parse(SAMPLE).entries) == 12


def test_a_statement_with_a_cut_amount_imports_nothing(client, db_session, org, signed_in):  # noqa: F811
    content = _with(TRANSACTION, b":61:130403C0000000000169,95N122NONREF")

    response = _upload(client, content, "rabo.sta", db_session=db_session)

    assert response.status_code == 303
    page = client.get("/cockpit/bank").text
    assert "rabo.sta was not imported" in page and "line 13: the amount 0000000000169,95 is longer than" in page
    assert db_session.scalar(select(func.count()).select_from(BankTransaction)) == 0
    assert db_session.scalar(select(func.count()).select_from(BankStatement).where(BankStatement.status == "done")) == 0
