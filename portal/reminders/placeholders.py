"""The values a reminder's placeholders are filled with, for a debtor and its invoices on a day."""

from html import escape

from babel.dates import format_date
from babel.numbers import format_currency
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.locales import DEBTOR_LOCALES, debtor_language
from portal.organisations.models import Organisation


def sample_debtor(session: Session, organisation_id: int) -> Debtor | None:
    """A real debtor with open invoices to preview texts on (the one owing most recently), else any."""
    debtor_id = session.scalar(
        select(Invoice.debtor_id)
        .where(Invoice.organisation_id == organisation_id, Invoice.kind == "invoice", Invoice.status == "open")
        .order_by(Invoice.due_date.desc())
        .limit(1)
    )
    if debtor_id is None:
        debtor_id = session.scalar(select(Debtor.id).where(Debtor.organisation_id == organisation_id).limit(1))
    return session.get(Debtor, debtor_id) if debtor_id else None


def placeholder_values(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoices: list[Invoice],
    language: str,
    pay_link: str,
    owed: dict | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(text values, HTML values) for a reminder to ``debtor`` about ``invoices``, formatted in ``language``.
    ``owed`` (portal.ledger.claims.Claim per invoice id) itemises principal, interest and costs where there are any."""
    locale = DEBTOR_LOCALES[debtor_language(language)]
    contact = debtor.contact_for("dunning") or debtor.contact_for("invoice")
    currency = invoices[0].currency if invoices else organisation.home_currency
    owed = owed or {}
    mine = [i for i in invoices if i.currency == currency]
    total = sum((owed[i.id].total if i.id in owed else i.open_amount for i in mine), start=0)
    interest = sum((owed[i.id].interest for i in mine if i.id in owed), start=0)
    costs = sum((owed[i.id].costs for i in mine if i.id in owed), start=0)
    itemised = any(claim.itemised for claim in owed.values())
    headings = _headings(language, itemised)
    lines = _invoice_lines(invoices, owed, itemised, currency, locale)
    if itemised:
        label = "Totaal" if language == "nl" else "Total"
        amounts = (total - interest - costs, interest, costs, total)
        lines.append((label, "", "", *(format_currency(amount, currency, locale=locale) for amount in amounts)))
    due_dates = [i.due_date for i in invoices if i.due_date]
    values = {
        "debtor_name": debtor.name,
        "contact_name": (contact.name if contact and contact.name else debtor.name),
        "invoice_table": _text_table(headings, lines),
        "invoice_numbers": ", ".join(i.number for i in invoices),
        "total_due": format_currency(total, currency, locale=locale),
        "interest_total": format_currency(interest, currency, locale=locale),
        "costs_total": format_currency(costs, currency, locale=locale),
        "oldest_due_date": format_date(min(due_dates), "long", locale=locale) if due_dates else "",
        # Several invoices: every reference, so that a transfer quoting them (the bank puts a list in its free text)
        # is matched to all of them, not booked on the first with the rest as credit.
        "payment_reference": ", ".join(i.payment_reference or i.number for i in invoices),
        "pay_link": pay_link,
        "organisation_name": organisation.name,
        "organisation_iban": organisation.iban,
        # Signed "{sender_name}\n{organisation_name}": without a person's name, the department's.
        "sender_name": organisation.sender_name
        or ("Debiteurenadministratie" if language == "nl" else "Accounts receivable"),
    }
    return values, {"invoice_table": _html_table(headings, lines)}


def _headings(language: str, itemised: bool) -> tuple[str, ...]:
    headings = (
        ("Factuur", "Datum", "Vervaldatum", "Open") if language == "nl" else ("Invoice", "Date", "Due", "Due now")
    )
    if itemised:
        headings = headings[:3] + (
            ("Hoofdsom", "Rente", "Incassokosten", "Totaal")
            if language == "nl"
            else ("Principal", "Interest", "Costs", "Due now")
        )
    return headings


def _invoice_lines(
    invoices: list[Invoice], owed: dict, itemised: bool, currency: str, locale: str
) -> list[tuple[str, ...]]:
    """A row per invoice: number, dates, and what is due now (itemised: principal, interest, costs and total)."""

    def money(amount) -> str:
        return format_currency(amount, currency, locale=locale)

    lines = []
    for i in invoices:
        claim = owed.get(i.id)
        amounts = (
            (money(claim.principal), money(claim.interest), money(claim.costs), money(claim.total))
            if itemised
            else (format_currency(claim.total if claim else i.open_amount, i.currency, locale=locale),)
        )
        lines.append(
            (
                i.number,
                format_date(i.issue_date, "short", locale=locale),
                format_date(i.due_date, "short", locale=locale) if i.due_date else "",
                *amounts,
            )
        )
    return lines


def _text_table(headings: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, amounts (from the fourth column on) to the right."""
    widths = [max(len(row[n]) for row in [headings, *lines]) for n in range(len(headings))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if n >= 3 else cell.ljust(width)
            for n, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [headings, *lines]
    )


def _html_table(headings: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in headings)
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in lines)
        + "</tbody></table>"
    )
