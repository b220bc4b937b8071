"""The column mapping of a CSV file: which header holds which field. Guessed from the usual names (English and
Dutch), overridden by what the organisation's last file used, overridden by what the user chose on the preview.
"""

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.imports.models import ImportMapping
from portal.imports.result import RowError

FIELDS = (
    "number",
    "debtor_number",
    "debtor_name",
    "issue_date",
    "due_date",
    "total",
    "currency",
    "kind",
    "payment_reference",
    "debtor_email",
)
REQUIRED = ("number", "issue_date", "total")  # and debtor_number or debtor_name; due_date for invoices

# Header names guessed for each field, English and Dutch; compared after _norm() (case, spaces and punctuation).
HEADER_GUESSES: dict[str, tuple[str, ...]] = {
    "number": (
        "number",
        "invoice number",
        "invoice no",
        "invoice nr",
        "invoice",
        "document number",
        "factuurnummer",
        "factuurnr",
        "factuur nr",
        "factuur",
        "nummer",
    ),
    "debtor_number": (
        "debtor number",
        "debtor no",
        "debtor nr",
        "customer number",
        "customer no",
        "customer nr",
        "customer id",
        "account number",
        "debiteurnummer",
        "debiteurnr",
        "debiteur nr",
        "klantnummer",
        "klantnr",
        "klant nr",
        "relatienummer",
    ),
    "debtor_name": (
        "debtor name",
        "debtor",
        "customer name",
        "customer",
        "company",
        "company name",
        "name",
        "klant",
        "klantnaam",
        "debiteurnaam",
        "debiteur naam",
        "relatie",
        "relatienaam",
        "bedrijfsnaam",
        "naam",
    ),
    "issue_date": ("issue date", "invoice date", "date", "document date", "factuurdatum", "datum", "boekdatum"),
    "due_date": ("due date", "due", "payment due", "vervaldatum", "vervaldag", "uiterste betaaldatum"),
    "total": (
        "total",
        "amount",
        "total amount",
        "invoice amount",
        "amount incl vat",
        "total incl vat",
        "bedrag",
        "totaal",
        "totaalbedrag",
        "factuurbedrag",
        "bedrag incl btw",
        "totaal incl btw",
    ),
    "currency": ("currency", "currency code", "valuta", "munt", "muntsoort"),
    "kind": ("kind", "type", "document type", "soort", "documentsoort", "factuursoort"),
    "payment_reference": (
        "payment reference",
        "reference",
        "payment ref",
        "betalingskenmerk",
        "betaalkenmerk",
        "kenmerk",
    ),
    "debtor_email": (
        "email",
        "e mail",
        "email address",
        "e mail address",
        "debtor email",
        "customer email",
        "emailadres",
        "e mailadres",
    ),
}


def _norm(header: str) -> str:
    return " ".join(re.sub(r"[_\-./#:()\[\]*]+", " ", header.replace("\ufeff", "")).lower().split())


_GUESSES = {field_name: {_norm(alias) for alias in aliases} for field_name, aliases in HEADER_GUESSES.items()}


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Fields whose header the file names in one of the usual ways (English or Dutch)."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field_name in FIELDS:  # one pass per field, in the order of FIELDS: "number" before "debtor_number"
        for header in headers:
            if header not in used and _norm(header) in _GUESSES[field_name]:
                mapping[field_name] = header
                used.add(header)
                break
    return mapping


def resolve_mapping(
    headers: list[str], remembered: dict[str, str] | None = None, explicit: dict[str, str | None] | None = None
) -> tuple[dict[str, str], list[RowError]]:
    """Guesses, overridden by the remembered mapping (where its headers are in this file), overridden by the
    explicit one (whose headers must be; a field given None or "" is left unmapped)."""
    mapping = guess_mapping(headers)
    for field_name, wanted in (remembered or {}).items():
        header = _find_header(headers, wanted) if field_name in FIELDS else None
        if header is not None:
            _assign(mapping, field_name, header)
    errors = _apply_explicit(mapping, headers, explicit or {})
    return mapping, errors + _unmapped(mapping)


def _find_header(headers: list[str], wanted: str) -> str | None:
    if wanted in headers:
        return wanted
    normal = _norm(wanted)
    return next((h for h in headers if _norm(h) == normal), None) if normal else None


def _assign(mapping: dict[str, str], field_name: str, header: str, keep: set[str] | None = None) -> None:
    """Map ``field_name`` to ``header``; the other fields on that column (but those in ``keep``) give way."""
    for other in [f for f, h in mapping.items() if h == header and f != field_name and f not in (keep or ())]:
        del mapping[other]
    mapping[field_name] = header


def _apply_explicit(mapping: dict[str, str], headers: list[str], explicit: dict[str, str | None]) -> list[RowError]:
    """The user's choices on top of ``mapping``: each must name a field and a column of the file."""
    errors: list[RowError] = []
    chosen: set[str] = set()
    for field_name, wanted in explicit.items():
        if field_name not in FIELDS:
            errors.append(RowError(0, field_name, f"unknown field {field_name!r}; fields are {', '.join(FIELDS)}"))
        elif not wanted:
            mapping.pop(field_name, None)
        elif (header := _find_header(headers, wanted)) is None:
            errors.append(RowError(0, field_name, f"the file has no column {wanted!r}"))
        else:
            # A guessed or remembered field on the same column gives way; another explicit one may share it.
            _assign(mapping, field_name, header, keep=chosen)
            chosen.add(field_name)
    return errors


def _unmapped(mapping: dict[str, str]) -> list[RowError]:
    """An error for each field a file needs that no column is mapped to."""
    errors = [RowError(0, name, f"no column is mapped to {name}") for name in REQUIRED if name not in mapping]
    if "debtor_number" not in mapping and "debtor_name" not in mapping:
        errors.append(RowError(0, "debtor_number", "no column is mapped to debtor_number or debtor_name"))
    return errors


# --- the organisation's mapping -----------------------------------------------------------------------------------


def remembered_mapping(session: Session, organisation_id: int) -> dict[str, str]:
    """The mapping of the organisation's last CSV file (field -> header), {} before its first."""
    stored = session.scalar(
        select(ImportMapping.mapping).where(
            ImportMapping.organisation_id == organisation_id, ImportMapping.kind == "csv"
        )
    )
    return {k: v for k, v in (stored or {}).items() if k in FIELDS and isinstance(v, str)}


def remember_mapping(session: Session, organisation_id: int, mapping: dict[str, str]) -> None:
    """Keep ``mapping`` (field -> header) as the organisation's mapping for its next CSV file."""
    mapping = {k: v for k, v in mapping.items() if k in FIELDS and v}
    stored = session.scalar(
        select(ImportMapping).where(ImportMapping.organisation_id == organisation_id, ImportMapping.kind == "csv")
    )
    if stored is None:
        session.add(ImportMapping(organisation_id=organisation_id, kind="csv", mapping=mapping))
    elif stored.mapping != mapping:
        stored.mapping = mapping  # a new dict: JSON columns do not track changes inside one
