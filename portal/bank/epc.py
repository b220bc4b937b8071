"""The EPC QR code ("GiroCode"): a SEPA credit transfer a banking app fills in from a scan."""

import io
from decimal import Decimal

import segno
from markupsafe import Markup
from segno import helpers

from portal.invoices.models import Invoice
from portal.invoices.references import normalise
from portal.organisations.models import Organisation

MAX_AMOUNT = Decimal("999999999.99")  # the EPC069-12 limit


def transfer_fields(
    organisation: Organisation, invoices: list[Invoice], due: dict[int, Decimal] | None = None
) -> dict | None:
    """What the code says for paying these (euro) invoices by bank transfer: the organisation's name, IBAN and BIC,
    the amount due (``due`` per invoice when it holds costs and interest, else the open amounts), and the invoice's
    RF reference when there is one invoice with one, else the references or numbers as text. None when a code
    cannot say it (no IBAN, not euro, nothing open, too much)."""
    invoices = [i for i in invoices if i.currency == "EUR" and i.open_amount > 0]
    amount = sum(((due or {}).get(i.id, i.open_amount) for i in invoices), Decimal("0.00"))
    if not organisation.iban or not invoices or amount > MAX_AMOUNT:
        return None
    reference = normalise(invoices[0].payment_reference or "") if len(invoices) == 1 else ""
    text = None
    if not reference.startswith("RF"):
        reference = None
        text = " ".join(i.payment_reference or i.number for i in invoices)
        text = text if len(text) <= 140 else text[:137] + "..."
    return {
        "name": organisation.name[:70],
        "iban": organisation.iban,
        "bic": organisation.bic or None,
        "amount": amount,
        "reference": reference,
        "text": text,
    }


CONTENT_ID = "epc-qr@duly.invalid"  # the picture's name inside an HTML mail (cid:)


def payload(fields: dict) -> str:
    """The EPC069-12 text (version 002, UTF-8, SEPA credit transfer): one field a line, as a banking app reads it."""
    remittance = [fields["reference"] or "", "" if fields["reference"] else (fields["text"] or "")]
    lines = ["BCD", "002", "1", "SCT", fields["bic"] or "", fields["name"], fields["iban"].replace(" ", "")]
    lines += [f"EUR{Decimal(fields['amount']):.2f}", "", *remittance]
    return "\n".join(lines).rstrip("\n")


def png(fields: dict) -> bytes:
    """The code as a PNG for a mail. A fixed mask: choosing the best of eight costs segno two thirds of the time,
    and any mask scans; this is drawn once per reminder mail, on the dispatch path."""
    code = segno.make_qr(payload(fields), error="m", mask=0, boost_error=False, encoding="utf-8")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def transfer_qr(
    organisation: Organisation, invoices: list[Invoice], due: dict[int, Decimal] | None = None
) -> Markup | None:
    """The code as inline SVG, or None (see transfer_fields)."""
    fields = transfer_fields(organisation, invoices, due)
    if fields is None:
        return None
    code = helpers.make_epc_qr(**fields)
    # segno writes plain SVG attributes (no style, no script): safe under the page's CSP.
    return Markup(code.svg_inline(scale=3, title="EPC QR", svgclass="epc-qr"))  # noqa: S704 - no text of ours in it
