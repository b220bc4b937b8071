"""What a debtor does on the self-service page besides paying: promise a date, say it was paid, dispute an invoice,
write to the supplier; and what becomes of it: promises kept or broken, disputes resolved by the supplier.

Every action writes an event (the debtor's timeline, the cockpit's queues). Messages of an ActionError are read by
the debtor in the page's language, so they are lazy: worked out when the page that shows them is rendered.
Resolving a dispute is the supplier's work, so its errors are in English like the rest of the cockpit.
"""

from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from flask import current_app
from flask_babel import force_locale, format_currency, format_date, gettext
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from portal import events
from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.invoices.service import InvoiceError, create_invoice
from portal.ledger.service import LedgerError, change_total
from portal.mail.models import MailMessage
from portal.mail.service import queue_mail
from portal.money import ZERO, MoneyError, parse_amount
from portal.organisations.models import Organisation, User
from portal.reminders.dispatch import sender
from portal.selfservice.models import DISPUTE_REASONS, DISPUTE_RESOLUTIONS, Dispute, Promise
from portal.types import utcnow

# The cockpit is English; these name the reasons there and on the timeline (the debtor's form has its own words).
REASON_LABELS = {
    "not_received": "not received",
    "wrong_amount": "wrong amount",
    "already_paid": "already paid",
    "quality": "quality or service",
    "not_ordered": "not ordered",
    "other": "other",
}
# The locales the debtor's page and mails are written in (as portal.selfservice.views.LOCALES).
LOCALES = {"nl": "nl_NL", "en": "en_GB"}
MAX_COMMENT = 2000
# The hold reason "I have already paid" leaves on an invoice; the cockpit's queue finds the invoices by it.
PAID_CLAIM_REASON = "Paid, the debtor says"


class ActionError(ValueError):
    """Bad input for an action; ``field`` names the form field it belongs to, when one does."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field

    def __str__(self) -> str:
        return str(self.message)


def _l(message: str, **values) -> LazyString:
    """A message for the debtor, translated (dates written out) in whatever language the page is rendered in."""
    return LazyString(_translate, message, values)


class Amount(NamedTuple):
    """An amount in a debtor's message, written as the page's language writes money."""

    value: Decimal
    currency: str


def _translate(message: str, values: dict) -> str:
    def written(value):
        if isinstance(value, date):
            return format_date(value, "long")
        if isinstance(value, Amount):
            return format_currency(value.value, value.currency)
        return value

    return gettext(message, **{k: written(v) for k, v in values.items()})


def _clean(text: str | None, limit: int) -> str:
    return (text or "").strip()[:limit]


def _open_invoices(session: Session, organisation: Organisation, debtor: Debtor, invoice_ids) -> list[Invoice]:
    """The debtor's open invoices among ``invoice_ids``; anything else is an error the debtor can act on."""
    try:
        ids = sorted({int(i) for i in invoice_ids or ()})
    except (TypeError, ValueError):
        raise ActionError(_l("Choose among your open invoices."), "invoice_ids") from None
    if not ids:
        raise ActionError(_l("Choose at least one invoice."), "invoice_ids")
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.id.in_(ids),
            Invoice.organisation_id == organisation.id,
            Invoice.debtor_id == debtor.id,
            Invoice.kind == "invoice",
        )
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    if len(invoices) != len(ids):
        raise ActionError(_l("Choose among your open invoices."), "invoice_ids")
    paid = [i.number for i in invoices if i.status != "open"]
    if paid:
        raise ActionError(_l("Invoice %(numbers)s is already paid.", numbers=", ".join(paid)), "invoice_ids")
    return list(invoices)


def _amounts(invoices: list[Invoice]) -> dict:
    """Event data for what the invoices still have open: an amount only when they share one currency."""
    currencies = {i.currency for i in invoices}
    if len(currencies) != 1:
        return {}
    return {"amount": sum((i.open_amount for i in invoices), ZERO), "currency": currencies.pop()}


def _about(invoices: list[Invoice]) -> dict:
    """Which invoices an event is about: numbers to read, ids for the cockpit's queues."""
    return {
        "invoices": ", ".join(i.number for i in invoices)[:300],
        "invoice_ids": ",".join(str(i.id) for i in invoices),
    }


def promise(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids,
    promised_on: date,
    today: date,
    note: str = "",
    *,
    source: str = "selfservice",
    actor_user_id: int | None = None,
) -> Promise:
    """The debtor promises to pay these invoices by ``promised_on``: reminders about them wait until that date
    plus the organisation's grace. An invoice already promised moves to the new promise; an earlier open promise
    left with nothing open is withdrawn (replaced)."""
    if promised_on is None:
        raise ActionError(_l("Choose the date you will pay on."), "promised_on")
    if promised_on < today:
        raise ActionError(_l("That date has passed. Choose today or a later date."), "promised_on")
    latest = today + timedelta(days=organisation.promise_max_days)
    if promised_on > latest:
        raise ActionError(
            _l(
                "You can promise a date up to %(days)d days ahead: %(date)s at the latest.",
                days=organisation.promise_max_days,
                date=latest,
            ),
            "promised_on",
        )
    invoices = _open_invoices(session, organisation, debtor, invoice_ids)
    earlier = {i.promise_id for i in invoices if i.promise_id is not None}
    new = Promise(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        promised_on=promised_on,
        status="open",
        source=source,
        note=_clean(note, 500),
    )
    session.add(new)
    session.flush()
    for invoice in invoices:
        invoice.promise_id, invoice.promised_on = new.id, promised_on
    session.flush()
    events.record(
        session,
        organisation.id,
        "promise:made",
        debtor_id=debtor.id,
        invoice_id=invoices[0].id if len(invoices) == 1 else None,
        actor_user_id=actor_user_id,
        promise=new.id,
        promised_on=promised_on.isoformat(),
        note=new.note,
        source=source,
        **_about(invoices),
        **_amounts(invoices),
    )
    for promise_id in sorted(earlier):
        still_open = session.scalar(
            select(func.count()).where(Invoice.promise_id == promise_id, Invoice.status == "open")
        )
        if not still_open and _close_promise(session, promise_id, "withdrawn"):
            events.record(
                session,
                organisation.id,
                "promise:withdrawn",
                debtor_id=debtor.id,
                actor_user_id=actor_user_id,
                promise=promise_id,
                replaced_by=new.id,
            )
    return new


def _close_promise(session: Session, promise_id: int, status: str) -> bool:
    """open -> kept | broken | withdrawn, once: two clocks checking at the same time record one outcome."""
    closed = session.execute(
        update(Promise)
        .where(Promise.id == promise_id, Promise.status == "open")
        .values(status=status, resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(session.get(Promise, promise_id), ["status", "resolved_at"])
    return closed == 1


def check_promises(session: Session, organisation_id: int, today: date) -> dict[str, int]:
    """Settle the organisation's open promises as of ``today``: kept once all their invoices are paid; broken when
    the date plus the grace has passed with something still open. A broken promise frees its invoices, so their
    scenario resumes at the next planning; it counts in the debtor's payment behaviour. The caller commits."""
    grace = session.scalar(select(Organisation.promise_grace_days).where(Organisation.id == organisation_id))
    counts = {"kept": 0, "broken": 0}
    promises = session.scalars(
        select(Promise)
        .where(Promise.organisation_id == organisation_id, Promise.status == "open")
        .options(selectinload(Promise.invoices))
        .order_by(Promise.id)
    ).all()
    for candidate in promises:
        invoices = list(candidate.invoices)
        still_open = [i for i in invoices if i.status == "open"]
        if not still_open:
            status = "kept"
        elif candidate.promised_on + timedelta(days=grace) < today:
            status = "broken"
        else:
            continue
        if not _close_promise(session, candidate.id, status):
            continue
        if status == "broken":
            for invoice in still_open:
                invoice.promised_on = None  # the scenario resumes; promise_id stays, to show what was promised
        events.record(
            session,
            organisation_id,
            f"promise:{status}",
            debtor_id=candidate.debtor_id,
            invoice_id=invoices[0].id if len(invoices) == 1 else None,
            promise=candidate.id,
            promised_on=candidate.promised_on.isoformat(),
            **_about(still_open or invoices),
            **(_amounts(still_open) if still_open else {}),
        )
        counts[status] += 1
    return counts


def claim_paid(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids,
    today: date,
    paid_on: date | None = None,
    comment: str = "",
) -> list[Invoice]:
    """The debtor says these invoices were paid ("I have already paid"): their reminders pause for the
    organisation's paid_claim_hold_days while the supplier looks for the money; the claim shows in the cockpit."""
    if paid_on is not None and paid_on > today:
        raise ActionError(_l("That date is still to come. When did you pay?"), "paid_on")
    invoices = _open_invoices(session, organisation, debtor, invoice_ids)
    until = today + timedelta(days=organisation.paid_claim_hold_days)
    reason = PAID_CLAIM_REASON + (f" (on {paid_on.isoformat()})" if paid_on else "")
    for invoice in invoices:
        if invoice.hold_until is None or invoice.hold_until < until:  # a longer hold the supplier set stays
            invoice.hold_until, invoice.hold_reason = until, reason
    events.record(
        session,
        organisation.id,
        "invoice:paid:claimed",
        debtor_id=debtor.id,
        invoice_id=invoices[0].id if len(invoices) == 1 else None,
        paid_on=paid_on.isoformat() if paid_on else None,
        comment=_clean(comment, MAX_COMMENT),
        until=until.isoformat(),
        **_about(invoices),
        **_amounts(invoices),
    )
    return invoices


def dispute(
    session: Session, organisation: Organisation, debtor: Debtor, invoice_id: int, reason: str, comment: str = ""
) -> Dispute:
    """The debtor disputes an invoice: no reminders about it while the supplier looks into it (Invoice.disputed_at),
    and it joins the cockpit's disputes queue. One open dispute per invoice."""
    if reason not in DISPUTE_REASONS:
        raise ActionError(_l("Choose what is wrong."), "reason")
    comment = _clean(comment, MAX_COMMENT)
    if reason == "other" and not comment:
        raise ActionError(_l("Tell us what is wrong."), "comment")
    [invoice] = _open_invoices(session, organisation, debtor, [invoice_id])
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
        raise ActionError(
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
        "dispute:opened",
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
        raise ActionError(f"Unknown resolution {resolution!r}.", "resolution")
    message = _clean(message, MAX_COMMENT)
    if resolution == "rejected" and not message:
        raise ActionError("Tell the debtor why the invoice stands.", "message")
    objection = session.get(Dispute, dispute_id)
    if objection is None:
        raise ActionError("No such dispute.")
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
        raise ActionError("This dispute has already been resolved.")
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
        "dispute:resolved",
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
        raise ActionError(str(exc).capitalize(), "amount") from None
    if amount <= ZERO:
        raise ActionError("Credit a positive amount.", "amount")
    if amount > invoice.open_amount:
        raise ActionError(f"At most what is open on {invoice.number}: {invoice.open_amount}.", "amount")
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
        raise ActionError(str(exc), "amount") from None
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
        raise ActionError("Give the invoice's correct total.", "amount")
    try:
        total = parse_amount(amount)
    except MoneyError as exc:
        raise ActionError(str(exc).capitalize(), "amount") from None
    if total == invoice.total:
        raise ActionError("That is the invoice's total already: reject the dispute instead.", "amount")
    try:
        change_total(session, invoice.id, total, actor_user_id=actor_user_id)
    except LedgerError as exc:
        raise ActionError(str(exc).capitalize(), "amount") from None
    return total


def _mail_resolution(
    session: Session, organisation: Organisation, objection: Dispute, invoice: Invoice, amount, mail_from
) -> str:
    """Tell the debtor, in their language; returns the address, or "" when the debtor has none."""
    debtor = objection.debtor
    to = debtor.dunning_email
    if not to:
        return ""
    language = debtor.language if debtor.language in LOCALES else "nl"
    with force_locale(LOCALES[language]):
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


def supplier_address(session: Session, organisation: Organisation) -> str:
    """Where a debtor's message goes: the organisation's sender address, else its first owner."""
    if organisation.sender_email:
        return organisation.sender_email
    owner = session.scalar(
        select(User.email)
        .where(User.organisation_id == organisation.id, User.role == "owner", User.active.is_(True))
        .order_by(User.id)
    )
    return owner or ""


def contact(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    message: str,
    reply_to: str = "",
    *,
    mail_from: str | None = None,
) -> MailMessage | None:
    """A message from the debtor to the supplier: on the timeline and in the cockpit, and mailed to the supplier."""
    message = _clean(message, MAX_COMMENT)
    if not message:
        raise ActionError(_l("Write your message."), "message")
    reply_to = " ".join((reply_to or "").split())[:200]
    to = supplier_address(session, organisation)
    mail = None
    if to:
        mail = queue_mail(
            session,
            to=to,
            template="debtor_message",
            context={"organisation": organisation, "debtor": debtor, "message": message, "reply_to": reply_to},
            from_address=mail_from or current_app.config["MAIL_FROM"],
            organisation_id=organisation.id,
        )
    events.record(
        session,
        organisation.id,
        "debtor:message:sent",
        debtor_id=debtor.id,
        message=message,
        reply_to=reply_to,
        mailed_to=to,
    )
    return mail
