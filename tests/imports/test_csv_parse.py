"""CSV import: a row's values typed (dates, kind, currency, e-mail, reference), or the row's errors."""

from datetime import date
from decimal import Decimal

import pytest

from portal.imports.csv_import import preview_csv
from portal.imports.csv_parse import parse_date
from tests.imports.csv_files import csv_file


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-11-23", date(2026, 11, 23)),
        ("2026-11-23 00:00:00", date(2026, 11, 23)),
        ("2026-11-23T10:15", date(2026, 11, 23)),
        ("23-11-2026", date(2026, 11, 23)),
        ("23/11/2026", date(2026, 11, 23)),
        ("23.11.2026", date(2026, 11, 23)),
        ("1-2-2026", date(2026, 2, 1)),
    ],
)
def test_iso_and_day_month_year_dates(text, day):
    assert parse_date(text) == day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31-02-2026", "no such date"),
        ("11/23/2026", "no such date"),
        ("23-11-26", "not a date"),
        ("23-11/2026", "not a date"),
        ("yesterday", "not a date"),
        ("0001-01-01", "out of range"),
    ],
)
def test_dates_that_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_date(text)


def test_rows_that_do_not_say_what_they_are(db_session, org):
    content = csv_file(
        "number;debtor;date;due;amount;currency;kind;email;reference",
        "K-1;A;2026-01-05;2026-02-05;-1,00;;invoice;;",  # an invoice is not negative
        "K-2;A;2026-01-05;2026-02-05;1,00;;bill;;",  # unknown kind
        "K-3;A;2026-01-05;;1,00;;;;",  # an invoice needs a due date
        "K-4;A;2026-01-05;2026-02-05;1,00;EUX;;;",  # three letters, but no currency (ISO 4217)
        "K-5;A;2026-01-05;2026-02-05;1,00;;;not-an-address;",
        "K-6;A;2026-01-05;2026-02-05;1,00;;;;" + "R" * 36,
        "K-7;;2026-01-05;2026-02-05;1,00;;;;",  # no debtor at all
        "K-8;A;;2026-02-05;;;;;",  # no date, no amount
        "K-9;A;2026-01-05;;1,00;;Creditnota;;",  # a credit note needs no due date, and is stored negative
    )
    preview = preview_csv(db_session, org.id, content)
    assert [(e.row, e.field) for e in preview.errors] == [
        (2, "total"),
        (3, "kind"),
        (4, "due_date"),
        (5, "currency"),
        (6, "debtor_email"),
        (7, "payment_reference"),
        (8, "debtor_number"),
        (9, "issue_date"),
        (9, "total"),
    ]
    assert [(r.number, r.kind, r.total) for r in preview.sample] == [("K-9", "credit_note", Decimal("-1.00"))]
