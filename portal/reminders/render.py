"""What a reminder says: the step's text (or the supplier's edit of this one reminder), in the debtor's language,
filled with the invoices' current amounts. Used alike by the preview, the dry run and the send."""

from dataclasses import dataclass, field
from datetime import date

from babel.dates import format_date
from babel.numbers import format_currency

from portal.epc import CONTENT_ID
from portal.invoices.models import Invoice
from portal.law.charges import Charges, charges_for_step, step_flags
from portal.ledger.claims import claims
from portal.ledger.transfer import transfer_fields
from portal.locales import DEBTOR_LOCALES, debtor_language
from portal.organisations.models import Organisation
from portal.reminders.models import Reminder
from portal.reminders.placeholders import placeholder_values
from portal.scenarios.texts import render_html, render_text

# Invoices Duly delivers itself are not a scenario step: their text is Duly's own, in the same placeholders.
DELIVERY_TEXTS = {
    "nl": (
        "Factuur {invoice_numbers} van {organisation_name}",
        "Beste {contact_name},\n\nHierbij ontvangt u onze factuur.\n\n{invoice_table}\n\n"
        "Wij verzoeken u {total_due} voor de vervaldatum over te maken naar {organisation_iban} onder vermelding van "
        "{payment_reference}, of te betalen via {pay_link}\n\nMet vriendelijke groet,\n{sender_name}\n"
        "{organisation_name}",
    ),
    "en": (
        "Invoice {invoice_numbers} from {organisation_name}",
        "Dear {contact_name},\n\nPlease find our invoice below.\n\n{invoice_table}\n\n"
        "Please transfer {total_due} by the due date to {organisation_iban} quoting {payment_reference}, or pay at "
        "{pay_link}\n\nKind regards,\n{sender_name}\n{organisation_name}",
    ),
}
PREVIEW_LINK = "[your personal payment link]"
# Under the QR code in an HTML reminder (the texts are the supplier's; this line is ours, in the debtor's language).
QR_CAPTION = {
    "nl": "Scan met uw bankapp om het openstaande bedrag over te maken.",
    "en": "Scan with your banking app to pay the amount due by transfer.",
}


# The consumer's 14-day letter (art. 6:96 lid 6 BW), Duly's own words after the supplier's text: the law says what
# it must name (14 days from receipt, the exact costs, what follows), so no edit of a step can leave it out.
NOTICE_TEXTS = {
    "nl": (
        "Wij verzoeken u het openstaande bedrag van {total} binnen 14 dagen na ontvangst van deze aanmaning te "
        "betalen, dus uiterlijk op {pay_by}. Betaalt u niet binnen deze termijn, dan bent u buitengerechtelijke "
        "incassokosten verschuldigd van {costs}{vat} (volgens het Besluit vergoeding voor buitengerechtelijke "
        "incassokosten), en kunnen wij de vordering uit handen geven."
    ),
    "en": (
        "Please pay the amount of {total} within 14 days after receiving this reminder, that is by {pay_by} at the "
        "latest. If you do not pay within this period, you will owe extrajudicial collection costs of {costs}{vat} "
        "(under the Dutch Extrajudicial Collection Costs Decree), and we may hand the claim over for collection."
    ),
}
NOTICE_VAT = {"nl": ", inclusief {vat} btw", "en": ", including {vat} VAT"}


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    channel: str
    tone: str
    # What an EPC QR code in the HTML says (portal.ledger.transfer.transfer_fields, JSON-ready), when there is one.
    qr: dict | None = None
    # What sending it adds under the late-payment law (portal.law.charges.charges_for_step), recorded with the send.
    charges: Charges = field(default_factory=Charges)
    # Each invoice's claim as the message states it (portal.ledger.claims.Claim by invoice id).
    owed: dict = field(default_factory=dict)


def texts_of(reminder: Reminder, language: str) -> tuple[str, str]:
    """(subject, body) before filling in: the supplier's edit of this reminder, else its step's, else delivery."""
    if reminder.kind == "delivery":
        subject, body = DELIVERY_TEXTS.get(language, DELIVERY_TEXTS["en"])
    else:
        step = reminder.step
        subject, body = step.text(language) if step else ("", "")
    if reminder.custom_subject is not None:
        subject = reminder.custom_subject
    if reminder.custom_body is not None:
        body = reminder.custom_body
    return subject, body


def render(
    session,
    organisation: Organisation,
    reminder: Reminder,
    invoices: list[Invoice],
    pay_link: str = PREVIEW_LINK,
    on: date | None = None,
) -> Rendered:
    """The reminder as sent on ``on`` (default: the organisation's today), with what its step adds under the
    late-payment law already counted in the amounts."""
    on = on or organisation.today()
    debtor = reminder.debtor
    language = debtor.language if debtor.language in ("nl", "en") else "en"
    subject, body = texts_of(reminder, language)
    step = reminder.step
    channel = "email" if reminder.kind == "delivery" or step is None else step.channel
    tone = "delivery" if reminder.kind == "delivery" else (step.tone if step else "")
    charges = Charges()
    if reminder.kind == "reminder" and step is not None:
        # Each invoice at its own step: one riding along in another's final notice gets nothing from it.
        positions = {item.invoice_id: item.step_position for item in reminder.items}
        flags = step_flags(reminder.scenario, {i.id: positions.get(i.id, reminder.step_position) for i in invoices})
        charges = charges_for_step(organisation, debtor, step, invoices, on, channel, flags=flags)
    owed = claims(session, organisation, debtor, invoices, on, pending=charges.changes)
    values, html_values = placeholder_values(session, organisation, debtor, invoices, language, pay_link, owed)
    subject_text = " ".join(render_text(subject, values).split())
    if charges.notice is not None:
        body = _with_notice(body, _notice(charges.notice, sum((c.total for c in owed.values()), start=0), language))
    html = render_html(body, values, html_values)
    qr = transfer_fields(organisation, invoices, {i: c.total for i, c in owed.items()}) if channel == "email" else None
    if qr is not None:
        qr = {**qr, "amount": str(qr["amount"])}
        caption = QR_CAPTION.get(language, QR_CAPTION["en"])
        html += (
            f'<p><img src="cid:{CONTENT_ID}" alt="EPC QR" width="148" height="148"><br>'
            f'<small style="color:#555">{caption}</small></p>'
        )
    colour = organisation.brand_colour
    html = (
        '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
        f'<div style="border-top:4px solid {colour};padding-top:8px">{html}</div></body></html>'
    )
    return Rendered(subject_text, render_text(body, values), html, channel, tone, qr, charges, owed)


def _with_notice(body: str, notice: str) -> str:
    """The notice as its own paragraph after the invoice table (where the amounts are), else at the end."""
    if "{invoice_table}" in body:
        return body.replace("{invoice_table}", "{invoice_table}\n\n" + notice, 1)
    return body.rstrip() + "\n\n" + notice


def _notice(notice, total, language: str) -> str:
    """The 14-day paragraph, in plain text; braces in it are not placeholders (render_text leaves them)."""
    locale = DEBTOR_LOCALES[debtor_language(language)]
    lang = language if language in NOTICE_TEXTS else "en"
    money = lambda amount: format_currency(amount, notice.currency, locale=locale)  # noqa: E731
    vat = NOTICE_VAT[lang].format(vat=money(notice.vat)) if notice.vat else ""
    return NOTICE_TEXTS[lang].format(
        total=money(total), pay_by=format_date(notice.pay_by, "long", locale=locale), costs=money(notice.costs), vat=vat
    )
