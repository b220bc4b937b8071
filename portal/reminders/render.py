"""What a reminder says: the step's text (or the supplier's edit of this one reminder), in the debtor's language,
filled with the invoices' current amounts. Used alike by the preview, the dry run and the send."""

from dataclasses import dataclass

from portal.bank.epc import CONTENT_ID, transfer_fields
from portal.invoices.models import Invoice
from portal.organisations.models import Organisation
from portal.reminders.models import Reminder
from portal.reminders.service import placeholder_values
from portal.reminders.texts import render_html, render_text

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


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    channel: str
    tone: str
    # What an EPC QR code in the HTML says (portal.bank.epc.transfer_fields, JSON-ready), when there is one.
    qr: dict | None = None


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
    session, organisation: Organisation, reminder: Reminder, invoices: list[Invoice], pay_link: str = PREVIEW_LINK
) -> Rendered:
    debtor = reminder.debtor
    language = debtor.language if debtor.language in ("nl", "en") else "en"
    subject, body = texts_of(reminder, language)
    values, html_values = placeholder_values(session, organisation, debtor, invoices, language, pay_link)
    step = reminder.step
    channel = "email" if reminder.kind == "delivery" or step is None else step.channel
    tone = "delivery" if reminder.kind == "delivery" else (step.tone if step else "")
    subject_text = " ".join(render_text(subject, values).split())
    html = render_html(body, values, html_values)
    qr = transfer_fields(organisation, invoices) if channel == "email" else None
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
    return Rendered(subject_text, render_text(body, values), html, channel, tone, qr)
