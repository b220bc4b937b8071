"""CSV downloads of the cockpit's lists, safe to open in a spreadsheet."""

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from flask import Response, stream_with_context

# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str | Decimal | int:
    """Text that would run as a formula gets a leading apostrophe; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> Response:
    """Stream the rows as a CSV download without holding them all in memory."""

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # a BOM, so that Excel reads UTF-8
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise(cell) for cell in row])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
