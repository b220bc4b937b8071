"""Bank statements in: camt.053 (ISO 20022, versions .001.02 to .001.08) and MT940 (with the Dutch :86: codes).

Both become the same thing: the statement's account and a list of ``Entry``, one per transaction after batches are
split. A file that cannot be read is refused whole (StatementError says where); balances are not checked, because
real exports do not always add up.
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import mt940
from lxml import etree

from portal.imports.ubl import _lxml_parser

MAX_BYTES = 50 * 1024 * 1024


class StatementError(ValueError):
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


def _children(element, name: str) -> list:
    return element.findall(name)


def _find(element, path: str):
    """The first element along a path of local names ("NtryDtls/TxDtls"): the namespaces are gone (_strip)."""
    return element.find(path)


def _text(element, path: str) -> str:
    if element is None:
        return ""
    found = element.findtext(path)
    return " ".join(found.split()) if found else ""


def _strip(root) -> None:
    """Every element by its local name, whatever the camt version's namespace: then lxml's own (C) path lookups
    find them, much faster than comparing names in Python."""
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.rsplit("}", 1)[-1]
    etree.cleanup_namespaces(root)


def _amount(element, path: str, where: str) -> tuple[Decimal, str]:
    found = _find(element, path)
    if found is None:
        raise StatementError(f"{where}: no {path}")
    try:
        value = Decimal((found.text or "").strip())
    except InvalidOperation:
        raise StatementError(f"{where}: {path} is not an amount: {found.text!r}") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise StatementError(f"{where}: {path} must be a positive amount with at most two decimals: {value}")
    return value, found.get("Ccy", "")


def _date(element, path: str, where: str, required: bool = True) -> date | None:
    raw = _text(element, path + "/Dt") or _text(element, path + "/DtTm")[:10]
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
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    version = re.search(r"camt\.053\.001\.(\d\d)", namespace)
    _strip(root)
    if root.tag != "Document" or _find(root, "BkToCstmrStmt") is None:
        raise StatementError("not a camt.053 statement: no Document/BkToCstmrStmt")
    if version and not 2 <= int(version[1]) <= 8:
        raise StatementError(f"camt.053.001.{version[1]} is not a version Duly reads (.001.02 to .001.08)")
    statements = _children(_find(root, "BkToCstmrStmt"), "Stmt")
    if not statements:
        raise StatementError("the file holds no statement (Stmt)")
    result = Statement(format="camt053", account="")
    position = 0
    for s, stmt in enumerate(statements, 1):
        account = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id")
        if not account:
            raise StatementError(f"statement {s}: no account (Acct/Id/IBAN)")
        result.account = result.account or account
        result.statement_id = result.statement_id or _text(stmt, "Id")
        for n, entry in enumerate(_children(stmt, "Ntry"), 1):
            where = f"statement {s}, entry {n}"
            if _text(entry, "Sts/Cd") or _text(entry, "Sts"):
                status = _text(entry, "Sts/Cd") or _text(entry, "Sts")
                if status not in ("BOOK", ""):
                    continue  # pending or information only: not booked yet
            total, currency = _amount(entry, "Amt", where)
            indicator = _text(entry, "CdtDbtInd")
            if indicator not in ("CRDT", "DBIT"):
                raise StatementError(f"{where}: CdtDbtInd must be CRDT or DBIT, not {indicator!r}")
            reversal = _text(entry, "RvslInd").lower() == "true"
            booked = _date(entry, "BookgDt", where)
            valued = _date(entry, "ValDt", where, required=False)
            bank_ref = _text(entry, "AcctSvcrRef")
            details = [tx for nd in _children(entry, "NtryDtls") for tx in _children(nd, "TxDtls")]
            parts = []
            for tx in details or [None]:
                amount, tx_currency = (total, currency)
                if tx is not None and len(details) > 1:
                    amount, tx_currency = _amount(tx, "AmtDtls/TxAmt/Amt", f"{where}, transaction")
                credit = indicator == "CRDT"
                party = "Dbtr" if credit else "Cdtr"
                return_reason = _text(tx, "RtrInf/Rsn/Cd") if tx is not None else ""
                position += 1
                parts.append(
                    Entry(
                        booking_date=booked,
                        value_date=valued,
                        amount=amount,
                        currency=tx_currency or currency,
                        credit=credit,
                        is_return=reversal or bool(return_reason),
                        return_reason=return_reason or ("reversal" if reversal else ""),
                        name=_text(tx, f"RltdPties/{party}/Nm") if tx is not None else "",
                        iban=_text(tx, f"RltdPties/{party}Acct/Id/IBAN") if tx is not None else "",
                        reference=_text(tx, "RmtInf/Strd/CdtrRefInf/Ref") if tx is not None else "",
                        end_to_end=_end_to_end(_text(tx, "Refs/EndToEndId")) if tx is not None else "",
                        remittance=" ".join(
                            filter(
                                None,
                                [
                                    " ".join(u.text or "" for u in _all(tx, "RmtInf/Ustrd")) if tx is not None else "",
                                    _text(entry, "AddtlNtryInf"),
                                ],
                            )
                        ),
                        bank_reference=bank_ref,
                        position=position,
                    )
                )
            if len(parts) > 1 and sum((p.amount for p in parts), Decimal("0")) != total:
                raise StatementError(f"{where}: its transactions add up to {sum(p.amount for p in parts)}, not {total}")
            result.entries.extend(parts)
    return result


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


def _bad_mt940_line(text: str) -> str:
    """The first :61: line that is not a transaction line, named by its line number ("" when all are)."""
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(":61:") and not re.match(r":61:\d{6}(\d{4})?R?[CD][A-Z]?\d+,\d{0,2}", line):
            return f"line {number}: a :61: transaction line must begin with a date, C or D and an amount: {line[:60]!r}"
    return ""
