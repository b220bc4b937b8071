"""E-invoice import: UBL 2.1 invoices and credit notes (Peppol BIS Billing 3.0, Dutch NLCIUS).

One file holds one document. ``parse_ubl`` reads it without touching the database, so a preview can list what is
wrong; ``import_ubl`` stores it with its debtor, all or nothing. The field paths are those of DOMAIN.md.

XML from outside is hostile until parsed: a document with a DOCTYPE is refused before anything else is read
(entity expansion bombs, external entities that read local files or the network), and the parser that builds
the tree has entities, DTD loading and the network switched off as well.
"""

import base64
import binascii
import re
import xml.etree.ElementTree as ElementTree  # only for its ParseError; parsing goes through defusedxml
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedElementTree
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import Debtor
from portal.debtors.service import DebtorError, create_debtor, find_debtor
from portal.events import EventKind
from portal.imports.result import ImportRefused, ImportResult, RowError
from portal.invoices import references
from portal.invoices.models import Invoice
from portal.invoices.service import InvoiceError
from portal.ledger.invoices import create_invoice
from portal.ledger.models import Allocation
from portal.ledger.service import LedgerError
from portal.money import ZERO, MoneyError, is_currency_code, parse_amount
from portal.organisations.models import Organisation

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ROOTS = {f"{{{UBL_INVOICE}}}Invoice": "invoice", f"{{{UBL_CREDIT_NOTE}}}CreditNote": "credit_note"}
# Peppol access points deliver documents wrapped in a Standard Business Document; the invoice is its last child.
SBDH = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"

MAX_BYTES = 20 * 1024 * 1024  # a UBL file with an embedded PDF; larger ones are not invoices
STATUTORY_TERM_DAYS = 30  # the term when none was agreed (DOMAIN.md; art. 6:119a BW)
MAX_REFERENCE = 35  # Invoice.payment_reference, and what a SEPA structured reference holds
# Column widths of Invoice and Debtor: longer values are refused here with a message, not by the database.
MAX_LENGTHS = {"number": 50, "name": 200, "email": 254, "address": 300, "postcode": 20, "city": 100}
MAX_ID_LENGTH = 30  # Debtor.vat_number, Debtor.company_number
MAX_FILENAME = 200

_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?")  # xsd:date, with an optional time zone
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")  # xsd:decimal: no exponent, no thousands separator
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f\"\\/:*?<>|]")

PAYABLE = "cac:LegalMonetaryTotal/cbc:PayableAmount"
BUYER = "cac:AccountingCustomerParty/cac:Party"
SELLER = "cac:AccountingSupplierParty/cac:Party"


@dataclass(frozen=True)
class Buyer:
    """The customer the document is addressed to (BG-7): the debtor."""

    name: str = ""
    company_number: str = ""  # BT-47 legal registration id, KVK in the Netherlands (scheme 0106)
    vat_number: str = ""  # BT-48
    email: str = ""
    address_lines: tuple[str, ...] = ()
    postcode: str = ""
    city: str = ""
    country: str = ""  # ISO 3166-1 alpha-2, "" when the document names none

    @property
    def address(self) -> str:
        return ", ".join(self.address_lines)


@dataclass(frozen=True)
class ParsedDocument:
    kind: str  # invoice | credit_note
    number: str
    issue_date: date
    due_date: date | None
    currency: str
    payable: Decimal  # amount due (BT-115), positive; a credit note is made negative when it is stored
    due_date_statutory: bool = False  # the document stated no due date: the statutory 30 days from its date
    payment_reference: str = ""
    billing_reference: str = ""  # the preceding invoice a credit note corrects (BT-25)
    buyer: Buyer = field(default_factory=Buyer)
    pdf: tuple[str, bytes] | None = None
    type_code: str = ""
    customization_id: str = ""
    seller: str = ""  # the supplier's name (BG-4): whoever sent the invoice


def _refuse(message: str, where: str = "") -> ImportRefused:
    return ImportRefused([RowError(0, where, message)])


def _lxml_parser() -> etree.XMLParser:
    """A new parser per document (lxml parsers are not shared between threads) that never reaches outside the file."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _parse_xml(content: bytes) -> etree._Element:
    """The document's root element, or ImportRefused; no DTD is read and no entity is expanded."""
    if not isinstance(content, bytes | bytearray):
        raise TypeError("parse_ubl takes the file's bytes")
    content = bytes(content)
    if not content.strip():
        raise _refuse("the file is empty")
    if len(content) > MAX_BYTES:
        raise _refuse(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    # First pass with expat through defusedxml: it stops at the DOCTYPE itself, before any declaration in it is read.
    try:
        DefusedElementTree.fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        # Not str(exc): it would repeat the system id the file points at.
        raise _refuse(
            "the file declares a DTD or entities (<!DOCTYPE ...>); an e-invoice never needs one, and they can make "
            "a parser read local files or the network, so the file is refused"
        ) from None
    except ElementTree.ParseError as exc:
        raise _refuse(f"not well-formed XML: {exc}") from None
    # The tree itself comes from lxml with everything that reaches outside switched off, and the DOCTYPE checked again.
    try:
        root = etree.fromstring(content, _lxml_parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise _refuse("the file declares a DTD (<!DOCTYPE ...>); an e-invoice never needs one, so it is refused")
    return root


def _document_root(root: etree._Element) -> tuple[etree._Element, str]:
    if root.tag == f"{{{SBDH}}}StandardBusinessDocument":
        for child in root:
            if child.tag in ROOTS:
                return child, ROOTS[child.tag]
    if root.tag in ROOTS:
        return root, ROOTS[root.tag]
    qname = etree.QName(root) if isinstance(root.tag, str) else None
    if qname is not None and qname.namespace == CII:
        raise _refuse("this is a UN/CEFACT CII invoice; only UBL invoices and credit notes can be imported")
    if qname is not None and qname.localname in ("Invoice", "CreditNote"):
        raise _refuse(
            f"the root element {qname.localname} is not in the UBL namespace "
            f"({UBL_INVOICE if qname.localname == 'Invoice' else UBL_CREDIT_NOTE}), "
            f"but in {qname.namespace or 'no namespace'}"
        )
    name = qname.localname if qname is not None else "?"
    raise _refuse(f"not a UBL invoice or credit note: the root element is {name}, not Invoice or CreditNote")


def _text(parent: etree._Element | None, path: str) -> str:
    """The element's text with its white space collapsed (no line breaks reach a name or a header)."""
    element = parent.find(path, NS) if parent is not None else None
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


class _Reader:
    """Reads fields and collects every error, so that one refusal lists all that is wrong with the document."""

    def __init__(self, root: etree._Element):
        self.root = root
        self.errors: list[RowError] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(RowError(0, where, message))

    def required(self, path: str, what: str) -> str:
        value = _text(self.root, path)
        if not value:
            self.error(path, f"the document has no {what} ({path})")
        return value

    def date(self, path: str, what: str, *, required: bool) -> date | None:
        value = self.required(path, what) if required else _text(self.root, path)
        if not value:
            return None
        match = _DATE.fullmatch(value)
        try:
            if match is None:
                raise ValueError
            return date.fromisoformat(match.group(1))
        except ValueError:
            self.error(path, f"the {what} is not a date (YYYY-MM-DD): {value[:40]!r}")
            return None

    def limited(self, value: str, where: str, what: str, limit: int) -> str:
        if len(value) > limit:
            self.error(where, f"{what} is longer than {limit} characters")
            return value[:limit]
        return value


def _currency(reader: _Reader) -> str:
    path = "cbc:DocumentCurrencyCode"
    value = reader.required(path, "currency")
    if value and not is_currency_code(value.upper()):
        reader.error(path, f"not a currency code (ISO 4217, e.g. EUR): {value[:40]!r}")
        return ""
    return value.upper()


def _payable(reader: _Reader, kind: str, currency: str) -> Decimal | None:
    value = reader.required(PAYABLE, "amount due")
    if not value:
        return None
    if not _DECIMAL.fullmatch(value):
        reader.error(PAYABLE, f"not an amount: {value[:40]!r}")
        return None
    try:
        amount = parse_amount(value, allow_negative=True)
    except MoneyError as exc:
        reader.error(PAYABLE, str(exc))
        return None
    if amount < ZERO:
        other = "an invoice" if kind == "credit_note" else "a credit note"
        reader.error(PAYABLE, f"the amount due is negative ({value}); send {other} instead")
        return None
    element = reader.root.find(PAYABLE, NS)
    stated = (element.get("currencyID") or "").strip().upper()
    if currency and stated and stated != currency:
        reader.error(PAYABLE, f"the amount due is in {stated}, the document in {currency}")
    return amount


def _payment_reference(root: etree._Element) -> str:
    """The first PaymentID (BT-83); free text is kept when it fits a payment reference, else dropped."""
    for means in root.iterfind("cac:PaymentMeans", NS):
        value = _text(means, "cbc:PaymentID")
        if value:
            return value if len(references.normalise(value)) <= MAX_REFERENCE else ""
    return ""


def _due_date(reader: _Reader, kind: str) -> date | None:
    """The due date (BT-9), or where UBL 2.0 and some senders put it; None when the document states none (EN 16931
    then wants payment terms in words, BT-20, which a machine cannot read)."""
    means_due = "cac:PaymentMeans/cbc:PaymentDueDate"
    if kind == "credit_note":
        return reader.date(means_due, "due date", required=False)
    if _text(reader.root, "cbc:DueDate") or not _text(reader.root, means_due):
        return reader.date("cbc:DueDate", "due date", required=False)
    return reader.date(means_due, "due date", required=True)


def _buyer(reader: _Reader) -> Buyer:
    party = reader.root.find(BUYER, NS)
    if party is None:
        reader.error(BUYER, f"the document names no buyer ({BUYER})")
        return Buyer()
    name = _text(party, "cac:PartyLegalEntity/cbc:RegistrationName") or _text(party, "cac:PartyName/cbc:Name")
    if not name:
        reader.error(f"{BUYER}/cac:PartyLegalEntity/cbc:RegistrationName", "the buyer has no name")
    address = party.find("cac:PostalAddress", NS)
    lines = [_text(address, "cbc:StreetName"), _text(address, "cbc:AdditionalStreetName")]
    if address is not None:
        lines += [_text(line, "cbc:Line") for line in address.iterfind("cac:AddressLine", NS)]
    lines = [line for line in lines if line]
    country = _text(address, "cac:Country/cbc:IdentificationCode").upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        reader.error(f"{BUYER}/cac:PostalAddress/cac:Country", f"not a country code: {country[:40]!r}")
        country = ""
    email = _text(party, "cac:Contact/cbc:ElectronicMail")
    if not _EMAIL.fullmatch(email) or len(email) > MAX_LENGTHS["email"]:
        email = ""  # a wrong contact address is no reason to refuse the invoice; it is simply not kept
    company_number = _text(party, "cac:PartyLegalEntity/cbc:CompanyID")
    vat_number = _text(party, "cac:PartyTaxScheme/cbc:CompanyID")
    return Buyer(
        name=reader.limited(name, BUYER, "the buyer's name", MAX_LENGTHS["name"]),
        company_number=reader.limited(company_number, BUYER, "the buyer's legal id", MAX_ID_LENGTH),
        vat_number=reader.limited(vat_number, BUYER, "the buyer's VAT number", MAX_ID_LENGTH),
        email=email,
        address_lines=tuple(lines),
        postcode=reader.limited(_text(address, "cbc:PostalZone"), BUYER, "the postcode", MAX_LENGTHS["postcode"]),
        city=reader.limited(_text(address, "cbc:CityName"), BUYER, "the city", MAX_LENGTHS["city"]),
        country=country,
    )


def _pdf(reader: _Reader, number: str) -> tuple[str, bytes] | None:
    """The first embedded PDF (BG-24), decoded; a broken one refuses the document rather than storing garbage."""
    for reference in reader.root.iterfind("cac:AdditionalDocumentReference", NS):
        blob = reference.find("cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)
        if blob is None or (blob.get("mimeCode") or "").strip().lower() != "application/pdf":
            continue
        where = "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
        try:
            content = base64.b64decode("".join("".join(blob.itertext()).split()), validate=True)
        except (binascii.Error, ValueError):
            reader.error(where, "the embedded PDF is not valid base64")
            return None
        if not content.startswith(b"%PDF-"):
            reader.error(where, "the embedded document is marked as a PDF but is not one")
            return None
        return _filename(blob.get("filename") or "", _text(reference, "cbc:ID") or number), content
    return None


def _filename(given: str, fallback: str) -> str:
    name = re.split(r"[\\/]", given)[-1]
    name = " ".join(_UNSAFE_FILENAME.sub("", name).split()).strip(". ")
    if not name:
        name = " ".join(_UNSAFE_FILENAME.sub("", fallback).split()).strip(". ") or "invoice"
    if not name.lower().endswith(".pdf"):
        name += ".pdf"
    return name[-MAX_FILENAME:]


def parse_ubl(content: bytes) -> ParsedDocument:
    """Read one UBL invoice or credit note; ImportRefused lists every problem found."""
    root, kind = _document_root(_parse_xml(content))
    reader = _Reader(root)
    number = reader.limited(reader.required("cbc:ID", "number"), "cbc:ID", "the number", MAX_LENGTHS["number"])
    issue_date = reader.date("cbc:IssueDate", "issue date", required=True)
    due_date = _due_date(reader, kind)
    if issue_date and due_date and due_date < issue_date:
        reader.error("cbc:DueDate", f"the due date {due_date} is before the issue date {issue_date}")
    statutory = kind == "invoice" and due_date is None and issue_date is not None
    if statutory:
        # No date agreed: payment is due 30 days after the invoice was received (art. 6:119a and 6:119 BW, the
        # late-payment directive's default). An e-invoice arrives the day it is sent: its issue date.
        due_date = issue_date + timedelta(days=STATUTORY_TERM_DAYS)
    currency = _currency(reader)
    payable = _payable(reader, kind, currency)
    buyer = _buyer(reader)
    pdf = _pdf(reader, number)
    if reader.errors:
        raise ImportRefused(reader.errors)
    type_path = "cbc:InvoiceTypeCode" if kind == "invoice" else "cbc:CreditNoteTypeCode"
    return ParsedDocument(
        kind=kind,
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        due_date_statutory=statutory,
        currency=currency,
        payable=payable,
        payment_reference=_payment_reference(root),
        billing_reference=_text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        buyer=buyer,
        pdf=pdf,
        type_code=_text(root, type_path),
        customization_id=_text(root, "cbc:CustomizationID"),
        seller=_text(root, f"{SELLER}/cac:PartyLegalEntity/cbc:RegistrationName")
        or _text(root, f"{SELLER}/cac:PartyName/cbc:Name"),
    )


def import_ubl(
    session: Session, organisation_id: int, content: bytes, *, actor_user_id: int | None = None
) -> ImportResult:
    """Store one UBL document with its debtor; on ImportRefused nothing was stored. The caller commits."""
    document = parse_ubl(content)
    try:
        with session.begin_nested():
            return _store(session, organisation_id, document, actor_user_id)
    except ImportRefused:
        session.expire_all()  # what the savepoint undid must be read again, not trusted from memory
        raise
    except (InvoiceError, DebtorError, LedgerError) as exc:
        session.expire_all()
        where = "cbc:ID" if "already exists" in str(exc) else ""
        raise _refuse(str(exc), where) from None
    except IntegrityError:
        # Another import stored the same number between our check and our insert.
        session.expire_all()
        raise _refuse(f"{document.number} was stored by another import at the same time", "cbc:ID") from None


def _corrected_invoice(session: Session, organisation_id: int, document: ParsedDocument) -> Invoice | None:
    if document.kind != "credit_note" or not document.billing_reference:
        return None
    return session.scalar(
        select(Invoice).where(
            Invoice.organisation_id == organisation_id,
            Invoice.kind == "invoice",
            Invoice.number == document.billing_reference,
        )
    )


def _same_name(a: str, b: str) -> bool:
    """Two spellings of one company name: case, spaces and punctuation aside ("Acme B.V." is "ACME BV")."""
    return bool(a) and re.sub(r"\W+", "", a.casefold()) == re.sub(r"\W+", "", b.casefold())


def _store(session: Session, organisation_id: int, document: ParsedDocument, actor_user_id: int | None) -> ImportResult:
    result = ImportResult()
    _refuse_a_purchase_invoice(session, organisation_id, document)
    corrected = _corrected_invoice(session, organisation_id, document)
    debtor = _known_debtor(session, organisation_id, document, corrected)
    if debtor is None:
        debtor = _create_buyer(session, organisation_id, document.buyer, actor_user_id)
        result.debtors_created = 1
    invoice = _create_document(session, organisation_id, debtor.id, document, corrected, actor_user_id)
    if document.kind == "credit_note":
        result.credit_notes = 1
        result.allocated = session.scalar(
            select(func.count()).select_from(Allocation).where(Allocation.credit_note_id == invoice.id)
        )
    else:
        result.invoices = 1
    if document.due_date_statutory:
        result.notes.append(_note_statutory_due_date(session, organisation_id, invoice, document, actor_user_id))
    result.invoice_ids.append(invoice.id)
    return result


def _refuse_a_purchase_invoice(session: Session, organisation_id: int, document: ParsedDocument) -> None:
    """An e-invoice addressed to the organisation itself is one it received (a purchase invoice, which comes as UBL
    too): not a claim on a customer. Stored, it would be chased from the organisation."""
    organisation = session.get(Organisation, organisation_id)
    if _same_name(document.buyer.name, organisation.name):
        seller = f" from {document.seller}" if document.seller else ""
        raise _refuse(
            f"this {document.kind.replace('_', ' ')} is addressed to {organisation.name} itself: one you "
            f"received{seller}, not one to collect",
            BUYER,
        )


def _known_debtor(
    session: Session, organisation_id: int, document: ParsedDocument, corrected: Invoice | None
) -> Debtor | None:
    """The buyer as a debtor of the organisation's, if it has it; a credit note's is that of the invoice it corrects."""
    buyer = document.buyer
    debtor = find_debtor(
        session,
        organisation_id,
        company_number=buyer.company_number,
        vat_number=buyer.vat_number,
        name=buyer.name,
    )
    if corrected is None:
        return debtor
    if debtor is None:
        # A credit note for one of our invoices is for that invoice's debtor, however it spells the buyer.
        return session.get(Debtor, corrected.debtor_id)
    if debtor.id != corrected.debtor_id:
        raise _refuse(
            f"credit note {document.number} corrects invoice {corrected.number} of {corrected.debtor.name}, "
            f"but its buyer is {debtor.name}",
            "cac:BillingReference",
        )
    return debtor


def _create_buyer(session: Session, organisation_id: int, buyer: Buyer, actor_user_id: int | None) -> Debtor:
    country = buyer.country or "NL"
    details = {
        "address": buyer.address[: MAX_LENGTHS["address"]],
        "postcode": buyer.postcode,
        "city": buyer.city,
        "country": country,
        "vat_number": buyer.vat_number,
        "company_number": buyer.company_number,
    }
    return create_debtor(
        session,
        organisation_id,
        name=buyer.name,
        kind="business",
        language="nl" if country == "NL" else "en",
        email=buyer.email,
        actor_user_id=actor_user_id,
        **details,
    )


def _create_document(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    document: ParsedDocument,
    corrected: Invoice | None,
    actor_user_id: int | None,
) -> Invoice:
    # create_invoice allocates a credit note to the invoice it corrects; with nothing to allocate it would refuse.
    link = corrected is not None and document.payable > ZERO
    invoice = create_invoice(
        session,
        organisation_id,
        debtor_id,
        number=document.number,
        issue_date=document.issue_date,
        due_date=document.due_date,
        total=document.payable,
        currency=document.currency,
        kind=document.kind,
        payment_reference=document.payment_reference,
        source="ubl",
        corrects_invoice_id=corrected.id if link else None,
        pdf=document.pdf,
        actor_user_id=actor_user_id,
    )
    if corrected is not None and not link:
        invoice.corrects_invoice_id = corrected.id
    session.flush()
    return invoice


def _note_statutory_due_date(
    session: Session, organisation_id: int, invoice: Invoice, document: ParsedDocument, actor_user_id: int | None
) -> str:
    """An event on the invoice's timeline and a note for the outcome: the due date is the statutory one."""
    events.record(
        session,
        organisation_id,
        EventKind.INVOICE_DUE_DATE_STATUTORY,
        actor_user_id=actor_user_id,
        debtor_id=invoice.debtor_id,
        invoice_id=invoice.id,
        number=document.number,
        due_date=document.due_date.isoformat(),
        days=STATUTORY_TERM_DAYS,
    )
    return (
        f"{document.number} states no due date: due {document.due_date.isoformat()}, "
        f"{STATUTORY_TERM_DAYS} days after its date (the statutory term)"
    )
