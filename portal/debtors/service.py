"""Creating and changing debtors."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import CONTACT_ROLES, DEBTOR_KINDS, Contact, Debtor
from portal.mail.service import check_header_safe


class DebtorError(ValueError):
    pass


def create_debtor(
    session: Session,
    organisation_id: int,
    *,
    name: str,
    number: str | None = None,
    kind: str = "business",
    language: str = "nl",
    email: str = "",
    contacts: list[dict] | None = None,
    actor_user_id: int | None = None,
    **details: str,
) -> Debtor:
    name = name.strip()
    if not name:
        raise DebtorError("a debtor needs a name")
    if kind not in DEBTOR_KINDS:
        raise DebtorError(f"kind is one of {', '.join(DEBTOR_KINDS)}")
    try:
        check_header_safe(name, email)
    except ValueError as exc:
        raise DebtorError(str(exc)) from None
    number = (number or "").strip() or None
    if number and session.scalar(
        select(Debtor.id).where(Debtor.organisation_id == organisation_id, Debtor.number == number)
    ):
        raise DebtorError(f"debtor number {number} is already in use")
    debtor = Debtor(
        organisation_id=organisation_id,
        name=name,
        number=number,
        kind=kind,
        language=language,
        email=email.strip().lower(),
        **details,
    )
    for contact in contacts or []:
        if contact.get("role", "invoice") not in CONTACT_ROLES:
            raise DebtorError(f"contact role is one of {', '.join(CONTACT_ROLES)}")
        try:
            check_header_safe(contact.get("name", ""), contact.get("email", ""))
        except ValueError as exc:
            raise DebtorError(str(exc)) from None
        debtor.contacts.append(Contact(**contact))
    session.add(debtor)
    session.flush()
    events.record(
        session,
        organisation_id,
        "debtor:created",
        debtor_id=debtor.id,
        actor_user_id=actor_user_id,
        name=name,
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
