"""Paying invoices by bank transfer to the organisation: what an EPC QR code for them says (portal.epc draws it)."""

from decimal import Decimal

from markupsafe import Markup

from portal.epc import MAX_AMOUNT, svg
from portal.invoices.models import Invoice
from portal.invoices.references import normalise
from portal.organisations.models import Organisation


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


def transfer_qr(
    organisation: Organisation, invoices: list[Invoice], due: dict[int, Decimal] | None = None
) -> Markup | None:
    """The code as inline SVG, or None (see transfer_fields)."""
    fields = transfer_fields(organisation, invoices, due)
    if fields is None:
        return None
    return svg(fields)
