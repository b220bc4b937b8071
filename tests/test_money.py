"""Amounts as people type them and files carry them: one parser (parse_typed_amount) for the cockpit's forms, the
CLI and the CSV import; parse_amount stays strict for what machines write."""

from decimal import Decimal

import pytest
from babel.numbers import format_currency
from hypothesis import given
from hypothesis import strategies as st

from portal.money import MAX_AMOUNT, MoneyError, parse_amount, parse_typed_amount

DUTCH = str.maketrans(",.", ".,")  # 1,234.56 -> 1.234,56


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1234.56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u202f234,56", "1234.56"),  # Babel's French grouping: a narrow no-break space
        ("€ 1.234,56", "1234.56"),
        ("€1,234.56", "1234.56"),
        ("1.234,56 €", "1234.56"),
        ("1.234.567,8", "1234567.80"),
        ("1,234,567", "1234567.00"),
        ("1.234,5", "1234.50"),
        ("-12,50", "-12.50"),
        ("€ -12,50", "-12.50"),
        ("-€12.50", "-12.50"),
        ("(12.50)", "-12.50"),
        ("(€ 12,50)", "-12.50"),
        ("+7", "7.00"),
        ("0,5", "0.50"),
        ("100", "100.00"),
        ("  42  ", "42.00"),
        ("12,3400", "12.34"),  # more decimals, but only zeros: still cents
        ("999.999.999.999,99", "999999999999.99"),
    ],
)
def test_amounts_people_type_and_files_carry(text, amount):
    assert parse_typed_amount(text, allow_negative=True) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.234", "ambiguous amount '1.234': write 1234 or 1.234,00 (or 1,234.00)"),
        ("1,234", "ambiguous amount '1,234'"),
        ("12,345", "ambiguous amount '12,345'"),
        ("1,2345", "at most two decimals: '1,2345'"),
        ("1.234,567", "at most two decimals: '1.234,567'"),
        ("abc", "not an amount: 'abc'"),
        ("", "not an amount: ''"),
        ("1.2.3", "not an amount: '1.2.3'"),
        ("1,234.567,8", "not an amount"),
        ("12.34,56", "not an amount"),  # a dot that groups thousands groups three digits
        ("1.234.56", "not an amount"),
        ("12.", "not an amount"),
        ("1.234,", "not an amount"),
        (",5", "not an amount"),
        (".5", "not an amount"),
        ("--5", "not an amount"),
        ("-(5)", "not an amount"),
        ("(5", "not an amount"),
        ("1e5", "not an amount"),
        ("NaN", "not an amount"),
        ("inf", "not an amount"),
        ("1€2", "not an amount"),  # the euro sign comes before or after the amount, not inside it
        ("€€12", "not an amount"),
        ("EUR 12", "not an amount"),
        ("1 000 000 000 000", "too large: '1 000 000 000 000'"),
    ],
)
def test_amounts_that_are_refused_rather_than_guessed(text, message):
    with pytest.raises(MoneyError) as refused:
        parse_typed_amount(text, allow_negative=True)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("text", ["-1", "(1,00)", "€ -0,01"])
def test_a_negative_amount_only_where_allowed(text):
    with pytest.raises(MoneyError, match=r"^must not be negative: "):
        parse_typed_amount(text)
    assert parse_typed_amount(text, allow_negative=True) < 0


def test_machine_written_amounts_stay_strict():
    assert parse_amount("1234.56") == Decimal("1234.56")
    for typed in ("1,234.56", "1234,56", "€ 12.00"):
        with pytest.raises(MoneyError, match="not an amount"):
            parse_amount(typed)


amounts = st.decimals(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, places=2, allow_nan=False, allow_infinity=False)


@given(amounts)
def test_an_amount_written_the_dutch_or_english_way_reads_back(amount):
    english = [f"{amount:.2f}", f"{amount:,.2f}"]  # 1234.56 and 1,234.56
    dutch = [text.translate(DUTCH) for text in english]  # 1234,56 and 1.234,56
    for text in english + dutch:
        assert parse_typed_amount(text, allow_negative=True) == amount, text


@given(amounts, st.sampled_from(["nl_NL", "en_NL", "en_GB", "de_DE", "fr_FR"]))
def test_an_amount_as_babel_shows_it_reads_back(amount, locale):
    """What Duly's pages and mails show (€ 1.234,56, €1,234.56, 1.234,56 €, 1 234,56 €) can be typed back."""
    shown = format_currency(amount, "EUR", locale=locale)
    assert parse_typed_amount(shown, allow_negative=True) == amount, shown
