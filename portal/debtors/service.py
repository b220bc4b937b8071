"""Creating and changing debtors."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import CONTACT_ROLES, DEBTOR_KINDS, Contact, Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.mail.service import check_header_safe


class DebtorError(DomainError):
    pass


EDITABLE = (
    "name",
    "number",
    "kind",
    "language",
    "email",
    "phone",
    "address",
    "postcode",
    "city",
    "country",
    "vat_number",
    "company_number",
)


def _clean(session: Session, organisation_id: int, debtor_id: int | None, values: dict) -> dict:
    """Checked, trimmed debtor fields; raises DebtorError with a message fit for the form."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    if "name" in values and not values["name"]:
        raise DebtorError("a debtor needs a name")
    if values.get("kind", "business") not in DEBTOR_KINDS:
        raise DebtorError(f"kind is one of {', '.join(DEBTOR_KINDS)}")
    try:
        check_header_safe(values.get("name", ""), values.get("email", ""))
    except ValueError as exc:
        raise DebtorError(str(exc)) from None
    if "email" in values:
        values["email"] = (values["email"] or "").lower()
    if "number" in values:
        values["number"] = values["number"] or None
        taken = session.scalar(
            select(Debtor.id).where(
                Debtor.organisation_id == organisation_id, Debtor.number == values["number"], Debtor.id != debtor_id
            )
        )
        if values["number"] and taken:
            raise DebtorError(f"debtor number {values['number']} is already in use")
    return values


def _set_contacts(debtor: Debtor, contacts: list[dict]) -> None:
    """One contact per role; an empty one removes that role's contact."""
    for contact in contacts:
        role = contact.get("role", "invoice")
        if role not in CONTACT_ROLES:
            raise DebtorError(f"contact role is one of {', '.join(CONTACT_ROLES)}")
        fields = {k: (contact.get(k) or "").strip() for k in ("name", "email", "phone")}
        try:
            check_header_safe(fields["name"], fields["email"])
        except ValueError as exc:
            raise DebtorError(str(exc)) from None
        fields["email"] = fields["email"].lower()
        existing = debtor.contact_for(role)
        if not any(fields.values()):
            if existing is not None:
                debtor.contacts.remove(existing)
        elif existing is None:
            debtor.contacts.append(Contact(role=role, **fields))
        else:
            for key, value in fields.items():
                setattr(existing, key, value)


def create_debtor(
    session: Session,
    organisation_id: int,
    *,
    name: str,
    contacts: list[dict] | None = None,
    actor_user_id: int | None = None,
    **details: str,
) -> Debtor:
    values = _clean(session, organisation_id, None, {"name": name, **details})
    debtor = Debtor(organisation_id=organisation_id, **values)
    _set_contacts(debtor, contacts or [])
    session.add(debtor)
    session.flush()
    events.record(
        session,
        organisation_id,
        EventKind.DEBTOR_CREATED,
        debtor_id=debtor.id,
        actor_user_id=actor_user_id,
        name=debtor.name,
    )
    return debtor


def update_debtor(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    *,
    contacts: list[dict] | None = None,
    actor_user_id: int | None = None,
    **details: str,
) -> Debtor:
    debtor = session.get(Debtor, debtor_id)
    if debtor is None or debtor.organisation_id != organisation_id:
        raise DebtorError("no such debtor")
    unknown = set(details) - set(EDITABLE)
    if unknown:
        raise DebtorError(f"cannot change {', '.join(sorted(unknown))}")
    values = _clean(session, organisation_id, debtor.id, details)
    changed = sorted(k for k, v in values.items() if getattr(debtor, k) != v)
    for key, value in values.items():
        setattr(debtor, key, value)
    _set_contacts(debtor, contacts or [])
    events.record(
        session,
        organisation_id,
        EventKind.DEBTOR_CHANGED,
        debtor_id=debtor.id,
        actor_user_id=actor_user_id,
        fields=", ".join(changed),
    )
    return debtor


def find_debtor(
    session: Session,
    organisation_id: int,
    *,
    number: str | None = None,
    company_number: str | None = None,
    vat_number: str | None = None,
    name: str | None = None,
) -> Debtor | None:
    """The organisation's debtor that an imported document names, by the surest key it carries.

    The supplier's own debtor number first, then the chamber of commerce number, the VAT number, and last the
    exact name (case-insensitive).
    """
    scope = select(Debtor).where(Debtor.organisation_id == organisation_id)
    for column, value in (
        (Debtor.number, number),
        (Debtor.company_number, company_number),
        (Debtor.vat_number, vat_number),
    ):
        if value and value.strip():
            found = session.scalar(scope.where(column == value.strip()).order_by(Debtor.id).limit(1))
            if found is not None:
                return found
    if name and name.strip():
        return session.scalar(scope.where(func.lower(Debtor.name) == name.strip().lower()).order_by(Debtor.id).limit(1))
    return None
