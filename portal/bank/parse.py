"""Bank statements in: camt.053 (ISO 20022, versions .001.02 to .001.08) and MT940 (with the Dutch :86: codes).

Both become the same thing: the statement's account and a list of ``Entry``, one per transaction after batches are
split. A file that cannot be read is refused whole (StatementError says where); balances are not checked, because
real exports do not always add up.
"""

import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import mt940
from lxml import etree

from portal.errors import DomainError
from portal.imports.ubl import _lxml_parser

MAX_BYTES = 50 * 1024 * 1024


class StatementError(DomainError):
    """The file is not a statement we can read; the message says where."""


@dataclass
class Entry:
    booking_date: date
    amount: Decimal  # positive; ``credit`` says which way
    currency: str
    credit: bool
    value_date: date | None = None
    is_return: bool = False  # a returned or reversed transaction (camt RtrInf / RvslInd, MT940 /RTRN/, RC/RD)
    return_reason: str = ""
    name: str = ""  # the other party
    iban: str = ""  # the other party's account
    reference: str = ""  # a structured creditor reference (RF or betalingskenmerk)
    end_to_end: str = ""
    remittance: str = ""  # free text
    bank_reference: str = ""
    position: int = 0  # in the file, from 1

    def details_hash(self) -> str:
        text = "|".join([self.name, self.iban, self.reference, self.end_to_end, self.remittance])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Statement:
    format: str  # camt053 | mt940
    account: str
    entries: list[Entry] = field(default_factory=list)
    statement_id: str = ""


def parse(content: bytes) -> Statement:
    """camt.053 or MT940, told apart by their first characters."""
    if not content or not content.strip():
        raise StatementError("the file is empty")
    if len(content) > MAX_BYTES:
        raise StatementError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    head = content.lstrip()[:200]
    if head.startswith(b"<"):
        return parse_camt(content)
    if b":20:" in content[:2000] or head.startswith(b"{1:") or head.startswith(b":940:"):
        return parse_mt940(content)
    raise StatementError("neither camt.053 (XML) nor MT940: the file's first line is not a statement header")


# --- camt.053 -------------------------------------------------------------------------------------------------


@functools.cache
def _any_namespace(path: str) -> str:
    """A path of local names ("NtryDtls/TxDtls") for lxml's own (C) lookups, in whatever namespace the camt version
    uses: "{*}NtryDtls/{*}TxDtls"."""
    return "/".join("{*}" + step for step in path.split("/"))


def _children(element, name: str) -> list:
    return element.findall(_any_namespace(name))


def _find(element, path: str):
    """The first element along a path of local names."""
    return element.find(_any_namespace(path))


def _text(element, path: str) -> str:
    if element is None:
        return ""
    found = element.findtext(_any_namespace(path))
    return " ".join(found.split()) if found else ""


class _Fields:
    """Reads many paths under an element in one compiled XPath call: the text of each path's first match, its
    whitespace collapsed (what _text gives, one lookup each). At 10,000 entries of a dozen fields that is a tenth
    of a second instead of half a second."""

    def __init__(self, namespace: str, paths: dict[str, str]):
        def qualified(path: str) -> str:
            # Attributes and text() have no namespace; elements are in the document's (if it has one).
            steps = path.split("/")
            return "/".join(s if s.startswith("@") or s == "text()" or not namespace else f"c:{s}" for s in steps)

        # normalize-space() leaves no tab in a value: the tab separates them. concat() wants two arguments or more.
        self.names = list(paths)
        self.xpath = etree.XPath(
            "concat(" + ", '\t', ".join(f"normalize-space({qualified(p)})" for p in paths.values()) + ", '')",
            namespaces={"c": namespace} if namespace else None,
        )

    def __call__(self, element) -> dict[str, str]:
        values = self.xpath(element).split("\t")
        # normalize-space() collapses XML's whitespace only; str.split() also the rest of Unicode's, as _text does.
        return {name: v if v.isascii() else " ".join(v.split()) for name, v in zip(self.names, values, strict=True)}


_ENTRY_FIELDS = {
    "status_code": "Sts/Cd",
    "status": "Sts/text()",  # camt.053.001.02: the code itself; later versions: the Cd above
    "amount": "Amt",
    "currency": "Amt/@Ccy",
    "indicator": "CdtDbtInd",
    "reversal": "RvslInd",
    "booked": "BookgDt/Dt",
    "booked_at": "BookgDt/DtTm",
    "valued": "ValDt/Dt",
    "valued_at": "ValDt/DtTm",
    "bank_reference": "AcctSvcrRef",
    "information": "AddtlNtryInf",
}
_TRANSACTION_FIELDS = {
    "amount": "AmtDtls/TxAmt/Amt",
    "currency": "AmtDtls/TxAmt/Amt/@Ccy",
    "return_reason": "RtrInf/Rsn/Cd",
    "debtor": "RltdPties/Dbtr/Nm",
    "debtor_iban": "RltdPties/DbtrAcct/Id/IBAN",
    "creditor": "RltdPties/Cdtr/Nm",
    "creditor_iban": "RltdPties/CdtrAcct/Id/IBAN",
    "reference": "RmtInf/Strd/CdtrRefInf/Ref",
    "end_to_end": "Refs/EndToEndId",
}


def _amount(text: str, currency: str, element, path: str, where: str) -> tuple[Decimal, str]:
    if not text and _find(element, path) is None:
        raise StatementError(f"{where}: no {path}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise StatementError(f"{where}: {path} is not an amount: {text!r}") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise StatementError(f"{where}: {path} must be a positive amount with at most two decimals: {value}")
    return value, currency


def _date(day: str, moment: str, path: str, where: str, required: bool = True) -> date | None:
    raw = day or moment[:10]
    if not raw:
        if required:
            raise StatementError(f"{where}: no {path}")
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise StatementError(f"{where}: {path} is not a date: {raw!r}") from None


def _xml(content: bytes):
    """The root element, with no DTD read and no entity expanded. A statement never declares either, so a file that
    does is refused before any parser sees it (cheaper than a first defusedxml pass over a 10 MB statement)."""
    if re.search(rb"<!\s*(DOCTYPE|ENTITY)", content, re.IGNORECASE):
        raise StatementError("the file declares a DTD or entities; a bank statement never needs one")
    try:
        root = etree.fromstring(content, _lxml_parser())
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise StatementError("the file declares a DTD; a bank statement never needs one")
    return root


def parse_camt(content: bytes) -> Statement:
    root = _xml(content)
    namespace = etree.QName(root).namespace or ""
    statements = _camt_statements(root, namespace)
    entry_fields, transaction_fields = _Fields(namespace, _ENTRY_FIELDS), _Fields(namespace, _TRANSACTION_FIELDS)
    result = Statement(format="camt053", account="")
    for s, stmt in enumerate(statements, 1):
        account = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id")
        if not account:
            raise StatementError(f"statement {s}: no account (Acct/Id/IBAN)")
        result.account = result.account or account
        result.statement_id = result.statement_id or _text(stmt, "Id")
        for n, entry in enumerate(_children(stmt, "Ntry"), 1):
            # Positions count the transactions kept so far, so an entry's first is one past them.
            parts = _camt_entry(
                entry, f"statement {s}, entry {n}", entry_fields, transaction_fields, len(result.entries)
            )
            result.entries.extend(parts)
    return result


def _camt_statements(root, namespace: str) -> list:
    """The file's statements (Stmt), once the file is known to be a camt.053 of a version Duly reads."""
    version = re.search(r"camt\.053\.001\.(\d\d)", namespace)
    if etree.QName(root).localname != "Document" or _find(root, "BkToCstmrStmt") is None:
        raise StatementError("not a camt.053 statement: no Document/BkToCstmrStmt")
    if version and not 2 <= int(version[1]) <= 8:
        raise StatementError(f"camt.053.001.{version[1]} is not a version Duly reads (.001.02 to .001.08)")
    statements = _children(_find(root, "BkToCstmrStmt"), "Stmt")
    if not statements:
        raise StatementError("the file holds no statement (Stmt)")
    return statements


@dataclass
class _Booking:
    """What an entry (Ntry) says for all of its transactions: amount, direction, dates, the bank's texts."""

    where: str
    total: Decimal
    currency: str
    credit: bool
    reversal: bool
    booked: date
    valued: date | None
    information: str
    bank_reference: str


def _camt_entry(entry, where: str, entry_fields: _Fields, transaction_fields: _Fields, before: int) -> list[Entry]:
    """An entry's transactions (one for an entry without details), numbered on from ``before``; none for an entry
    that is not booked yet."""
    booking = _camt_booking(entry_fields(entry), entry, where)
    if booking is None:
        return []
    details = [tx for nd in _children(entry, "NtryDtls") for tx in _children(nd, "TxDtls")]
    parts = [
        _camt_transaction(booking, tx, transaction_fields, len(details) > 1, before + k)
        for k, tx in enumerate(details or [None], 1)
    ]
    if len(parts) > 1 and sum((p.amount for p in parts), Decimal("0")) != booking.total:
        raise StatementError(f"{where}: its transactions add up to {sum(p.amount for p in parts)}, not {booking.total}")
    return parts


def _camt_booking(fields: dict[str, str], entry, where: str) -> _Booking | None:
    if (fields["status_code"] or fields["status"]) not in ("BOOK", ""):
        return None  # pending or information only: not booked yet
    total, currency = _amount(fields["amount"], fields["currency"], entry, "Amt", where)
    indicator = fields["indicator"]
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(f"{where}: CdtDbtInd must be CRDT or DBIT, not {indicator!r}")
    return _Booking(
        where=where,
        total=total,
        currency=currency,
        credit=indicator == "CRDT",
        reversal=fields["reversal"].lower() == "true",
        booked=_date(fields["booked"], fields["booked_at"], "BookgDt", where),
        valued=_date(fields["valued"], fields["valued_at"], "ValDt", where, required=False),
        information=fields["information"],
        bank_reference=fields["bank_reference"],
    )


def _camt_transaction(booking: _Booking, tx, transaction_fields: _Fields, split: bool, position: int) -> Entry:
    """One transaction of an entry (``tx`` None: the entry itself); ``split``: the entry has several, each with its
    own amount."""
    amount, currency = booking.total, booking.currency
    tx_fields = transaction_fields(tx) if tx is not None else dict.fromkeys(_TRANSACTION_FIELDS, "")
    if split:
        amount, currency = _amount(
            tx_fields["amount"], tx_fields["currency"], tx, "AmtDtls/TxAmt/Amt", f"{booking.where}, transaction"
        )
    return_reason = tx_fields["return_reason"]
    unstructured = " ".join(u.text or "" for u in _all(tx, "RmtInf/Ustrd")) if tx is not None else ""
    party = "debtor" if booking.credit else "creditor"
    return Entry(
        booking_date=booking.booked,
        value_date=booking.valued,
        amount=amount,
        currency=currency or booking.currency,
        credit=booking.credit,
        is_return=booking.reversal or bool(return_reason),
        return_reason=return_reason or ("reversal" if booking.reversal else ""),
        name=tx_fields[party],
        iban=tx_fields[f"{party}_iban"],
        reference=tx_fields["reference"],
        end_to_end=_end_to_end(tx_fields["end_to_end"]),
        remittance=" ".join(filter(None, [unstructured, booking.information])),
        bank_reference=booking.bank_reference,
        position=position,
    )


def _all(element, path: str) -> list:
    *parents, name = path.split("/")
    parent = _find(element, "/".join(parents)) if parents else element
    return _children(parent, name) if parent is not None else []


def _end_to_end(value: str) -> str:
    return "" if value.upper() in ("NOTPROVIDED", "NOTPROVIDE", "NONREF") else value


# --- MT940 ----------------------------------------------------------------------------------------------------

_CODES = (
    "EREF",
    "CNTP",
    "ORDP",
    "BENM",
    "REMI",
    "RTRN",
    "MARF",
    "CSID",
    "IREF",
    "ISDT",
    "ACCW",
    "NAME",
    "ADDR",
    "PURP",
)
_CODE = re.compile(r"/(" + "|".join(_CODES) + r")/")


def _structured(details: str) -> dict[str, str]:
    """The Dutch structured :86: ("/EREF/.../REMI/USTD//text/") as code -> value; {} for free text."""
    if not _CODE.search(details or ""):
        return {}
    pieces = _CODE.split(details)
    values: dict[str, str] = {}
    for code, value in zip(pieces[1::2], pieces[2::2], strict=False):
        values.setdefault(code, value)
    return values


def _mt940_parts(details: str) -> dict[str, str]:
    codes = _structured(details)
    if not codes:
        return {"remittance": details.strip()}
    remi = codes.get("REMI", "")
    reference = ""
    strd = re.match(r"STRD/(?:CUR|ISO)/([^/]+)", remi)
    if strd:
        reference, remi = strd[1], ""
    remi = re.sub(r"^USTD//", "", remi)
    party = codes.get("ORDP") or codes.get("BENM") or codes.get("CNTP") or ""
    name = codes.get("NAME") or ""
    iban = ""
    if codes.get("CNTP"):
        cntp = codes["CNTP"].split("/")
        iban = cntp[0]
        name = name or (cntp[2] if len(cntp) > 2 else "")
    if not name and party:
        name = party.strip("/")
    return {
        "remittance": remi.strip(" /"),
        "reference": reference,
        "end_to_end": _end_to_end(codes.get("EREF", "").strip(" /")),
        "name": name.strip(" /"),
        "iban": iban,
        "return_reason": codes.get("RTRN", "").strip(" /"),
    }


def parse_mt940(content: bytes) -> Statement:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = _bad_mt940_line(text)
    if bad:
        raise StatementError(bad)
    last_transaction, last_closing = text.rfind(":61:"), max(text.rfind(":62F:"), text.rfind(":62M:"))
    if last_closing < last_transaction:
        # A file cut off in transfer ends in the middle of a transaction: its last description would be short, and
        # so would its duplicate key; the whole file, imported later, would then book that transaction again.
        raise StatementError(
            "the file ends without a closing balance (:62F:) after its last transaction: it may be cut off"
        )
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(text)
    except Exception as exc:  # noqa: BLE001 - the library raises many kinds; the file is refused with its words
        raise StatementError(f"not a readable MT940 file: {exc}") from None
    account = (transactions.data.get("account_identification") or "").split(" ")[0]
    result = Statement(format="mt940", account=account, statement_id=transactions.data.get("transaction_reference", ""))
    for position, tx in enumerate(transactions, 1):
        data = tx.data
        amount = data.get("amount")
        if amount is None:
            raise StatementError(f"transaction {position}: no amount in its :61: line")
        value = Decimal(str(amount.amount))
        status = data.get("status", "")
        details = (data.get("transaction_details") or "").replace("\n", "")
        parts = _mt940_parts(details)
        extra = (data.get("extra_details") or "").strip()
        iban = parts.get("iban") or (extra if re.fullmatch(r"[A-Z]{2}\d\d[A-Z0-9]{10,30}", extra) else "")
        reversal = status in ("RC", "RD")
        result.entries.append(
            Entry(
                booking_date=_as_date(data.get("entry_date") or data.get("date")),
                value_date=_as_date(data.get("date")),
                amount=abs(value),
                currency=data.get("currency") or getattr(amount, "currency", "") or "EUR",
                credit=value > 0,
                is_return=reversal or bool(parts.get("return_reason")),
                return_reason=parts.get("return_reason") or ("reversal" if reversal else ""),
                name=parts.get("name", ""),
                iban=iban,
                reference=parts.get("reference", ""),
                end_to_end=parts.get("end_to_end", ""),
                remittance=parts.get("remittance", ""),
                bank_reference=(data.get("bank_reference") or "").strip(),
                position=position,
            )
        )
    if not result.account:
        raise StatementError("no account (:25:) in the file")
    return result


def _as_date(value) -> date | None:
    if value is None:
        return None
    return date(value.year, value.month, value.day)


# Where a :61: transaction line and a balance line (:60F:, :62F:, :64:, ...) carry their amount.
_TRANSACTION_LINE = re.compile(r":61:\d{6}(\d{4})?R?[CD][A-Z]?(?P<amount>[\d,]+)")
_AMOUNT = re.compile(r"\d+,\d{0,2}")
_BALANCE_LINE = re.compile(r":6[0245][FM]?:[CD]\d{6}[A-Z]{3}(?P<amount>[\d,]+)")
# MT940 amounts are at most 15 characters, the comma included. The mt940 library reads the first 15 of a longer one
# and hands the rest on as a reference: 1234567890123456,78 would be booked as 123456789012345.
MT940_AMOUNT_CHARS = 15


def _bad_mt940_line(text: str) -> str:
    """The first :61: line that is not a transaction line, or the first amount longer than MT940 allows, named by
    its line number ("" when all are good)."""
    for number, line in enumerate(text.split("\n"), 1):
        found = _TRANSACTION_LINE.match(line) or _BALANCE_LINE.match(line)
        if line.startswith(":61:") and not (found and _AMOUNT.fullmatch(found["amount"])):
            return f"line {number}: a :61: transaction line must begin with a date, C or D and an amount: {line[:60]!r}"
        if found and len(found["amount"]) > MT940_AMOUNT_CHARS:
            return (
                f"line {number}: the amount {found['amount']} is longer than the {MT940_AMOUNT_CHARS} characters "
                "MT940 allows: the file is damaged or not MT940"
            )
    return ""
