"""Reading a CSV file: its bytes to rows of text. The encoding, the delimiter and the header row are found from the
file itself; rows are read lazily, a line at a time, so that a big file is never held as a list of rows.

Rows are single lines: a quoted value cannot span lines, so a stray quote costs the one row it is on.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from portal.imports.result import ImportRefused, RowError

DELIMITERS = (";", ",", "\t")
# The csv module refuses a longer value (csv.field_size_limit()); the row is refused with this, the file with it.
TOO_LONG = f"a value is longer than {csv.field_size_limit():,} characters (is a quote left open?)"
SNIFF_LINES = 50  # lines that decide the delimiter
CHUNK = 500  # rows per database round (lookups, flushes) and per progress call

T = TypeVar("T")


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # utf-8, utf-8-sig (with BOM), utf-16 (with BOM) or cp1252
    delimiter: str
    header_line: int  # 1, or 2 after Excel's "sep=;" line


def refuse(message: str, field_name: str = "") -> ImportRefused:
    """The file refused as a whole, for one reason."""
    return ImportRefused([RowError(0, field_name, message)])


def read_table(content: bytes) -> tuple[list[str], CsvFormat]:
    """The headers of a CSV file and how it is written (encoding, delimiter); ImportRefused when it is not CSV."""
    if not content.strip():
        raise refuse("the file is empty")
    encoding = _encoding(content)
    if not encoding:
        raise refuse("the file is not text in UTF-8 or Windows-1252: save it as CSV (UTF-8)")
    delimiter, header_line, sample = _head(content, encoding)
    delimiter = delimiter or _sniff_delimiter(sample)
    if not delimiter and len(sample[0]) > csv.field_size_limit():
        raise ImportRefused([RowError(header_line, "", TOO_LONG)])
    if not delimiter:
        raise refuse("could not find the columns: the header needs at least two, separated by ; or ,")
    try:
        headers = next(csv.reader((sample[0],), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ImportRefused([RowError(header_line, "", _csv_message(exc, delimiter))]) from None
    headers = [h.replace("\ufeff", "").strip() for h in headers]
    while headers and not headers[-1]:
        headers.pop()  # a trailing delimiter is not a column
    return headers, CsvFormat(encoding, delimiter, header_line)


def records(content: bytes, fmt: CsvFormat) -> Iterator[tuple[int, list[str] | None, str]]:
    """(line, values, "") for each data row, or (line, None, why) for a row that is not valid CSV."""
    for line_no, line in _lines(content, fmt.encoding):
        if line_no <= fmt.header_line or _blank(line):
            continue
        if "\x00" in line:
            yield line_no, None, "the row contains a NUL character"
            continue
        try:
            values = next(csv.reader((line,), delimiter=fmt.delimiter, strict=True))
        except csv.Error as exc:
            yield line_no, None, _csv_message(exc, fmt.delimiter)
            continue
        if any(value.strip() for value in values):
            yield line_no, values, ""


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter), each handed on as soon as it is full."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- encoding -----------------------------------------------------------------------------------------------------


def _decodes(content: bytes, encoding: str) -> bool:
    """Whether all of ``content`` decodes, without building the decoded text (a big file stays one copy)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(content)
    try:
        for start in range(0, len(view), 1 << 20):
            decoder.decode(view[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _encoding(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16" if _decodes(content, "utf-16") else ""
    if content.startswith(b"PK\x03\x04") or content.startswith(b"\xd0\xcf\x11\xe0"):
        raise refuse("this is a spreadsheet (Excel) file, not CSV: save it as CSV and upload that")
    if _decodes(content, "utf-8"):
        return "utf-8"
    if _decodes(content, "cp1252"):
        return "cp1252"
    return ""


def _lines(content: bytes, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, line) over the decoded file, read lazily."""
    text = io.TextIOWrapper(io.BytesIO(content), encoding=encoding, newline="")
    try:
        yield from enumerate(text, 1)
    finally:
        text.detach()


def _blank(line: str) -> bool:
    return not line.strip()


# --- header and delimiter -----------------------------------------------------------------------------------------


def _head(content: bytes, encoding: str) -> tuple[str, int, list[str]]:
    """Excel's delimiter hint ("sep=;") if the file starts with one, the header's line, and the first lines from
    the header on (SNIFF_LINES at most, blank ones left out)."""
    delimiter, header_line, sample = "", 0, []
    for line_no, line in _lines(content, encoding):
        if _blank(line):
            continue
        if not header_line:
            match = re.fullmatch(r"sep=(.)\s*", line.lstrip("\ufeff"), flags=re.IGNORECASE)
            if match:
                delimiter = match.group(1)
                continue
            header_line = line_no
        sample.append(line)
        if len(sample) >= SNIFF_LINES:
            break
    if not header_line:
        raise refuse("the file is empty")
    return delimiter, header_line, sample


def _loose_split(line: str, delimiter: str) -> list[str]:
    """The line's values; none when the csv module cannot read it (a value longer than its field limit): such a row
    does not vote for a delimiter, and records() refuses it, naming its row."""
    try:
        return next(csv.reader((line,), delimiter=delimiter))
    except csv.Error:
        return []


def _sniff_delimiter(sample: list[str]) -> str:
    """The delimiter that gives the header most columns that the following lines agree with."""
    best, best_score = "", (-1, 0)
    for delimiter in DELIMITERS:
        counts = [len(_loose_split(line, delimiter)) for line in sample]
        if counts[0] < 2:
            continue
        score = (sum(1 for count in counts[1:] if count == counts[0]), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_message(exc: csv.Error, delimiter: str) -> str:
    text = str(exc)
    shown = "tab" if delimiter == "\t" else delimiter
    if "unexpected end of data" in text:
        return 'a quote (") opens a value that does not close on this line; remove the stray quote or close it'
    if "expected after" in text:
        return 'text follows a closing quote ("); quote the whole value and double any quote inside it ("")'
    if "field larger than field limit" in text:
        return TOO_LONG
    return f"cannot read this line as CSV separated by {shown}: {text}"
