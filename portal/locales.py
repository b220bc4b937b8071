"""The languages Duly writes in, and messages for a debtor worked out in the language of whatever shows them.

The debtor's page and every mail to a debtor are in Dutch or English (the debtor's language, Dutch when unknown); the
cockpit is in English, with amounts and dates written the organisation's way.
"""

from contextlib import AbstractContextManager
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from flask_babel import force_locale, format_currency, format_date, gettext
from flask_babel.speaklater import LazyString

DEBTOR_LANGUAGES = ("nl", "en")
# How each debtor language writes amounts and dates.
DEBTOR_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
# The cockpit is English; an organisation set to "nl" gets the Dutch way of writing amounts (€ 1.234,56) and dates
# (day first), with the English month and day names of the words around them.
COCKPIT_LOCALES = {"nl": "en_NL"}


def debtor_language(language: str | None) -> str:
    """A language the debtor's page and mails are written in: the one asked for, else Dutch."""
    return language if language in DEBTOR_LANGUAGES else "nl"


def in_debtor_language(language: str | None) -> AbstractContextManager:
    """Render (a mail, a page) in the debtor's language: ``with in_debtor_language(debtor.language): ...``."""
    return force_locale(DEBTOR_LOCALES[debtor_language(language)])


class Amount(NamedTuple):
    """An amount in a debtor's message, written as the reader's language writes money."""

    value: Decimal
    currency: str


def lazy(message: str, **values) -> LazyString:
    """A message for the debtor, translated (dates and amounts written out) in whatever language the page that shows
    it is rendered in. Import it as ``_l``: that is the name the catalogs are extracted by (babel.cfg)."""
    return LazyString(_translate, message, values)


def _translate(message: str, values: dict) -> str:
    def written(value):
        if isinstance(value, date):
            return format_date(value, "long")
        if isinstance(value, Amount):
            return format_currency(value.value, value.currency)
        return value

    return gettext(message, **{k: written(v) for k, v in values.items()})
