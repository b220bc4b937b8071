"""The EPC QR code ("GiroCode"): a SEPA credit transfer a banking app fills in from a scan (EPC069-12).

What goes in it for an invoice is ``portal.ledger.transfer``'s; here is only the format, drawn for a mail (PNG) or a
page (SVG).
"""

import io
from decimal import Decimal

import segno
from markupsafe import Markup
from segno import helpers

MAX_AMOUNT = Decimal("999999999.99")  # the EPC069-12 limit

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


def svg(fields: dict) -> Markup:
    """The code as inline SVG for a page."""
    code = helpers.make_epc_qr(**fields)
    # segno writes plain SVG attributes (no style, no script): safe under the page's CSP.
    return Markup(code.svg_inline(scale=3, title="EPC QR", svgclass="epc-qr"))  # noqa: S704 - no text of ours in it
