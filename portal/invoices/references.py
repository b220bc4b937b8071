"""Structured payment references: ISO 11649 (RF) and the Dutch betalingskenmerk.

The betalingskenmerk rules come from Betaalvereniging Nederland (see DOMAIN.md): 16 digits are a check digit
followed by 15 digits; the check digit uses the weights 2, 4, 8, 5, 10, 9, 7, 3, 6, 1 repeating from the
rightmost digit, C = 11 - (sum mod 11), where 10 becomes 1 and 11 becomes 0.
"""

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

_WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)


def _nl_check_digit(digits: str) -> int:
    total = sum(int(d) * _WEIGHTS[i % 10] for i, d in enumerate(reversed(digits)))
    check = 11 - total % 11
    return {10: 1, 11: 0}.get(check, check)


def betalingskenmerk(number: int) -> str:
    """The 16-digit Dutch payment reference for a sequence number (up to 15 digits)."""
    payload = f"{number:015d}"
    if len(payload) > 15:
        raise ValueError("betalingskenmerk holds at most 15 digits")
    return f"{_nl_check_digit(payload)}{payload}"


def is_valid_betalingskenmerk(reference: str) -> bool:
    """True for a well-formed 16, 9-14 (with length digit) or 7 digit reference.

    Real statements carry invalid ones too: callers use this as a matching signal, never to refuse money.
    """
    digits = re.sub(r"\s", "", reference)
    if not digits.isdigit():
        return False
    if len(digits) == 16:
        return int(digits[0]) == _nl_check_digit(digits[1:])
    if 9 <= len(digits) <= 14:
        rest = digits[2:]
        return int(digits[1]) == len(rest) % 10 and int(digits[0]) == _nl_check_digit(digits[1:])
    return len(digits) == 7


def rf_reference(number: int, prefix: str = "") -> str:
    """An ISO 11649 creditor reference ("RF" + 2 check digits + up to 21 characters)."""
    body = f"{prefix}{number}".upper()
    if len(body) > 21 or not body.isalnum():
        raise ValueError(f"RF reference body must be 1-21 letters or digits: {body!r}")
    # ISO 11649 check digits are ISO 7064 MOD 97-10 over the body followed by "RF" (letters as 10-35).
    reference = "RF" + mod_97_10.calc_check_digits(body + "RF") + body
    return iso11649.validate(reference)


def generate(scheme: str, number: int) -> str:
    if scheme == "nl":
        return betalingskenmerk(number)
    if scheme == "rf":
        return rf_reference(number)
    raise ValueError(f"unknown payment reference scheme: {scheme}")


def normalise(reference: str) -> str:
    """The form references are compared in: no spaces, upper case."""
    return re.sub(r"\s", "", reference).upper()
