"""A reminder as a printed letter: the same text as the mail (render), laid out on A4 for a window envelope.

The text is the supplier's and the debtor's data: it goes into the page as values that Jinja escapes, never as a
template or as HTML, and WeasyPrint may not fetch anything (no file:, no http:), so a letter cannot read the server's
files or call out whatever its text holds.
"""

import re
from datetime import date

from babel import Locale
from babel.dates import format_date
from flask import render_template
from weasyprint import HTML, URLFetcher

from portal.invoices.models import Invoice
from portal.locales import DEBTOR_LOCALES, debtor_language
from portal.organisations.models import Organisation
from portal.reminders.models import Reminder
from portal.reminders.render import render

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOUR = "#1e6b52"  # Organisation.brand_colour's default
# A line of the invoice table: cells padded with spaces, at least two between columns.
TABLE_LINE = re.compile(r"\S {2,}\S")
LABELS = {
    "nl": {"date": "Datum", "customer": "Uw klantnummer", "attn": "t.a.v.", "page": "Pagina", "of": "van"},
    "en": {"date": "Date", "customer": "Your customer number", "attn": "Attn.", "page": "Page", "of": "of"},
}


PAPER_LINK = {"nl": "de persoonlijke link in onze e-mail.", "en": "the personal link in our e-mail."}


def letter_pdf(session, organisation: Organisation, reminder: Reminder, invoices: list[Invoice], on: date) -> bytes:
    """The reminder about ``invoices`` as an A4 letter dated ``on`` (PDF), with the amounts as they are that day."""
    debtor = reminder.debtor
    language = debtor.language if debtor.language in LABELS else "en"
    # Paper has no link to click: the debtor's personal link travels by mail only (a token printed on a letter
    # would outlive its envelope).
    rendered = render(session, organisation, reminder, invoices, pay_link=PAPER_LINK[language], on=on)
    locale = DEBTOR_LOCALES[debtor_language(language)]
    contact = debtor.contact_for("dunning") or debtor.contact_for("invoice")
    html = render_template(
        "law/letter.html",
        organisation=organisation,
        # The colour goes into CSS, where autoescaping does not protect: only an exact #rrggbb gets there.
        colour=organisation.brand_colour if HEX_COLOUR.fullmatch(organisation.brand_colour or "") else DEFAULT_COLOUR,
        language=language,
        labels=LABELS[language],
        debtor=debtor,
        contact_name=contact.name if contact and contact.name and contact.name != debtor.name else "",
        country=_country(debtor.country, organisation, locale),
        dated=format_date(on, "long", locale=locale),
        subject=rendered.subject,
        segments=segments(rendered.text),
    )
    # Only data: URIs (nothing in the letter uses one yet); every other scheme is refused, file: included.
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=("data",))).write_pdf()


def segments(text: str) -> list[tuple[bool, str]]:
    """The body as (is_table, text) runs: the invoice table is aligned with spaces, so it needs a monospace font,
    while the prose reads better in the letter's own. A table is two or more lines in a row laid out in columns."""
    lines = text.strip("\n").split("\n")
    tabular = [bool(TABLE_LINE.search(line)) for line in lines]
    runs: list[tuple[bool, list[str]]] = []
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and tabular[end] == tabular[start]:
            end += 1
        is_table = tabular[start] and end - start >= 2
        if runs and runs[-1][0] == is_table:
            runs[-1][1].extend(lines[start:end])
        else:
            runs.append((is_table, lines[start:end]))
        start = end
    # Blank lines next to a table become the table's margins, so that the spacing is the same whatever the text.
    return [(is_table, "\n".join(run).strip("\n")) for is_table, run in runs if "".join(run).strip()]


def _country(code: str, organisation: Organisation, locale: str) -> str:
    """The country line for post abroad (in capitals, as postal services ask), none for the supplier's own."""
    if not code or code.upper() == organisation.holiday_country.upper():
        return ""
    return Locale.parse(locale).territories.get(code.upper(), code).upper()
