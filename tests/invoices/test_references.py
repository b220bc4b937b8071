"""Both payment reference schemes: what we generate validates, and a single changed digit is caught."""

from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso11649

from portal.invoices.references import betalingskenmerk, is_valid_betalingskenmerk, rf_reference

numbers = st.integers(min_value=1, max_value=10**15 - 1)


@given(numbers)
def test_a_generated_betalingskenmerk_validates(number):
    reference = betalingskenmerk(number)
    assert len(reference) == 16 and is_valid_betalingskenmerk(reference)


WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)


def _raw_check(payload: str) -> int:
    """11 - (weighted sum mod 11), before the scheme folds 10 into 1 and 11 into 0."""
    return 11 - sum(int(d) * WEIGHTS[i % 10] for i, d in enumerate(reversed(payload))) % 11


@given(numbers, st.integers(0, 15), st.integers(1, 9))
def test_a_betalingskenmerk_with_one_digit_changed_is_caught(number, position, shift):
    reference = betalingskenmerk(number)
    digit = (int(reference[position]) + shift) % 10
    changed = reference[:position] + str(digit) + reference[position + 1 :]
    if position == 0 or {_raw_check(reference[1:]), _raw_check(changed[1:])} != {1, 10}:
        assert not is_valid_betalingskenmerk(changed)
    else:
        # The scheme's own blind spot: it writes a check of 10 as 1, so these two payloads share a check digit.
        # Every weight is prime to 11, so the weighted sum itself always changes.
        assert _raw_check(reference[1:]) != _raw_check(changed[1:])


def test_the_published_example():
    # Weights 2, 4, 8, 5, 10, 9, 7, 3, 6, 1 from the right over 000000000000001: 1 x 2 = 2, 11 - 2 = 9.
    assert betalingskenmerk(1) == "9000000000000001"


@given(st.integers(min_value=1, max_value=10**20))
def test_a_generated_rf_reference_validates(number):
    assert iso11649.is_valid(rf_reference(number))


@given(st.integers(min_value=1, max_value=10**20), st.data())
def test_an_rf_reference_with_one_character_changed_is_caught(number, data):
    reference = rf_reference(number)
    position = data.draw(st.integers(2, len(reference) - 1))
    replacement = data.draw(st.sampled_from([c for c in "0123456789" if c != reference[position]]))
    changed = reference[:position] + replacement + reference[position + 1 :]
    assert not iso11649.is_valid(changed)
