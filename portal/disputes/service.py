"""Disputes: a debtor objects to an invoice, the supplier resolves it.

While a dispute is open its invoice gets no reminders (Invoice.disputed_at). Resolving is the supplier's work, so
those errors are in English like the rest of the cockpit; the debtor's are lazy, in the page's language.
"""

from decimal import Decimal

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import Debtor
from portal.disputes.models import DISPUTE_REASONS, DISPUTE_RESOLUTIONS, REASON_LABELS, Dispute
from portal.errors import DomainError
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.invoices.service import InvoiceError, chosen_open_invoices
from portal.ledger.invoices import create_invoice
from portal.ledger.service import LedgerError, change_total
from portal.locales import debtor_language, in_debtor_language
from portal.locales import lazy as _l
from portal.mail.senders import sender
from portal.mail.service import queue_mail
from portal.money import ZERO, MoneyError, parse_amount
from portal.organisations.models import Organisation
from portal.text import MAX_MESSAGE, clean
from portal.types import utcnow


class DisputeError(DomainError):
    """A dispute that cannot be opened or resolved as asked; ``field`` names the form field."""


def open_dispute(
    session: Session, organisation: Organisation, debtor: Debtor, invoice_id: int, reason: str, comment: str = ""
) -> Dispute:
    """The debtor disputes an invoice: no reminders about it while the supplier looks into it (Invoice.disputed_at),
    and it joins the cockpit's disputes queue. One open dispute per invoice."""
    if reason not in DISPUTE_REASONS:
        raise DisputeError(_l("Choose what is wrong."), "reason")
    comment = clean(comment, MAX_MESSAGE)
    if reason == "other" and not comment:
        raise DisputeError(_l("Tell us what is wrong."), "comment")
    [invoice] = chosen_open_invoices(session, organisation.id, debtor.id, [invoice_id])
    now = utcnow()
    # Conditional, so that two submits at once make one dispute: the second finds the invoice disputed.
    taken = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.disputed_at.is_(None))
        .values(disputed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(invoice, ["disputed_at"])
    if taken != 1:
        raise DisputeError(
            _l("You have already disputed this invoice; %(name)s is looking into it.", name=organisation.name)
        )
    objection = Dispute(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        invoice_id=invoice.id,
        reason=reason,
        comment=comment,
        status="open",
        created_at=now,
    )
    session.add(objection)
    session.flush()
    events.record(
        session,
        organisation.id,
        EventKind.DISPUTE_OPENED,
        debtor_id=debtor.id,
        invoice_id=invoice.id,
        dispute=objection.id,
        number=invoice.number,
        reason=reason,
        reason_label=REASON_LABELS[reason],
        comment=comment,
        amount=invoice.open_amount,
        currency=invoice.currency,
    )
    return objection


def resolve_dispute(
    session: Session,
    dispute_id: int,
    resolution: str,
    message: str,
    actor_user_id: int | None,
    amount: Decimal | str | None = None,
    *,
    mail_from: str | None = None,
) -> Dispute:
    """The supplier's answer to a dispute. credited: a credit note for ``amount`` (default: what is open) is
    allocated to the invoice; corrected: the invoice's total becomes ``amount``; rejected: the invoice stands and
    ``message`` says why. In each case the invoice's reminders resume and the debtor is mailed the message in
    their language."""
    if resolution not in DISPUTE_RESOLUTIONS:
        raise DisputeError(f"Unknown resolution {resolution!r}.", "resolution")
    message = clean(message, MAX_MESSAGE)
    if resolution == "rejected" and not message:
        raise DisputeError("Tell the debtor why the invoice stands.", "message")
    objection = session.get(Dispute, dispute_id)
    if objection is None:
        raise DisputeError("No such dispute.")
    # Open -> resolved first: a second controller resolving the same dispute at once finds it resolved, and their
    # credit note or correction is never made.
    taken = session.execute(
        update(Dispute)
        .where(Dispute.id == dispute_id, Dispute.status == "open")
        .values(
            status="resolved",
            resolution=resolution,
            resolution_message=message,
            resolved_by_user_id=actor_user_id,
            resolved_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(objection)
    if taken != 1:
        raise DisputeError("This dispute has already been resolved.")
    invoice = objection.invoice
    organisation = session.get(Organisation, objection.organisation_id)
    data: dict = {"number": invoice.number, "currency": invoice.currency}
    if resolution == "credited":
        data["amount"] = _credit(session, organisation, invoice, amount, actor_user_id)
    elif resolution == "corrected":
        data["old_total"], data["amount"] = invoice.total, _correct(session, invoice, amount, actor_user_id)
    invoice.disputed_at = None
    mailed = _mail_resolution(session, organisation, objection, invoice, data.get("amount"), mail_from)
    events.record(
        session,
        organisation.id,
        EventKind.DISPUTE_RESOLVED,
        debtor_id=objection.debtor_id,
        invoice_id=invoice.id,
        actor_user_id=actor_user_id,
        dispute=objection.id,
        resolution=resolution,
        message=message,
        mailed_to=mailed,
        **data,
    )
    return objection


def _credit(session: Session, organisation: Organisation, invoice: Invoice, amount, actor_user_id) -> Decimal:
    try:
        amount = invoice.open_amount if amount in (None, "") else parse_amount(amount)
    except MoneyError as exc:
        raise DisputeError(str(exc).capitalize(), "amount") from None
    if amount <= ZERO:
        raise DisputeError("Credit a positive amount.", "amount")
    if amount > invoice.open_amount:
        raise DisputeError(f"At most what is open on {invoice.number}: {invoice.open_amount}.", "amount")
    try:
        create_invoice(
            session,
            organisation.id,
            invoice.debtor_id,
            number=_credit_note_number(session, organisation.id, invoice.number),
            issue_date=organisation.today(),
            total=-amount,
            currency=invoice.currency,
            kind="credit_note",
            corrects_invoice_id=invoice.id,
            actor_user_id=actor_user_id,
        )
    except InvoiceError as exc:
        raise DisputeError(str(exc), "amount") from None
    session.refresh(invoice)
    return amount


def _credit_note_number(session: Session, organisation_id: int, number: str) -> str:
    """CN-<invoice number>, with -2, -3 ... when an earlier credit note took it."""
    base = f"CN-{number}"[:45]
    taken = set(
        session.scalars(
            select(Invoice.number).where(
                Invoice.organisation_id == organisation_id,
                Invoice.kind == "credit_note",
                Invoice.number.startswith(base, autoescape=True),
            )
        )
    )
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _correct(session: Session, invoice: Invoice, amount, actor_user_id) -> Decimal:
    if amount in (None, ""):
        raise DisputeError("Give the invoice's correct total.", "amount")
    try:
        total = parse_amount(amount)
    except MoneyError as exc:
        raise DisputeError(str(exc).capitalize(), "amount") from None
    if total == invoice.total:
        raise DisputeError("That is the invoice's total already: reject the dispute instead.", "amount")
    try:
        change_total(session, invoice.id, total, actor_user_id=actor_user_id)
    except LedgerError as exc:
        raise DisputeError(str(exc).capitalize(), "amount") from None
    return total


def _mail_resolution(
    session: Session, organisation: Organisation, objection: Dispute, invoice: Invoice, amount, mail_from
) -> str:
    """Tell the debtor, in their language; returns the address, or "" when the debtor has none."""
    debtor = objection.debtor
    to = debtor.dunning_email
    if not to:
        return ""
    language = debtor_language(debtor.language)
    with in_debtor_language(language):
        queue_mail(
            session,
            to=to,
            template="dispute_resolved",
            context={
                "organisation": organisation,
                "debtor": debtor,
                "dispute": objection,
                "invoice": invoice,
                "amount": amount,
                "language": language,
            },
            from_address=sender(organisation, mail_from or current_app.config["MAIL_FROM"]),
            organisation_id=organisation.id,
        )
    return to
