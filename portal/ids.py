"""Ids from requests: a number in a URL or a form is an id only when the id columns could hold it.

Every id column is INTEGER, which PostgreSQL holds up to 2**31 - 1; a larger number in a query raised
NumericValueOutOfRange there (and OverflowError on SQLite beyond 2**63 - 1), a 500 where an unknown id is a 404.
"""

from collections.abc import Iterable

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route (registered under that name): a number beyond MAX_ID is answered like any id
    that does not exist, 404."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            # NotFound, not the ValidationError of werkzeug's max=: with that, a path that another rule has for
            # another method (GET and POST of /invoices/<id>/edit) answers 405 instead.
            raise NotFound()
        return number


def parse_id(value: str) -> int | None:
    """``value`` as an id, or None when it is not one: ASCII digits (``"²".isdigit()`` too, but int() refuses it),
    at most MAX_ID."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def form_ids(values: Iterable[str]) -> list[int]:
    """The ids among a form's values; the others are left out, as ids of nothing."""
    return [number for number in map(parse_id, values) if number is not None]
