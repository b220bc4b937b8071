"""CSV downloads of the cockpit's lists, safe to open in a spreadsheet."""

import csv
import io
import re
from collections.abc import Iterable
from decimal import Decimal

from flask import Response, stream_with_context

# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection); so is a part of a cell
# after a separator, where a spreadsheet splits the file on another delimiter than ours (";" in European Excel reads
# "B-2;=1+1" as two cells, the second a formula). Each such start gets an apostrophe: text, not a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_AFTER_SEPARATOR = re.compile(r"([,;\t\r\n|]\s*\"?)(?=[=+\-@])")


def neutralise(value) -> str | Decimal | int:
    """Text that would run as a formula, in any part a spreadsheet may split it into, gets an apostrophe before it;
    numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        return value
    text = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", str(value))
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> Response:
    """Stream the rows as a CSV download without holding them all in memory."""

    def generate():
        buffer = io.StringIO()
        # Every text cell quoted, numbers not: a reader splitting on another delimiter keeps a quoted cell whole.
        writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC)
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
