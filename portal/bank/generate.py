"""camt.053 statements written by Duly itself: for the demo (a statement paying its own open invoices), the tests
and the benchmark. The same shape a Dutch bank sends (camt.053.001.02), so the import reads it like any other."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree
from sqlalchemy import exists, select

from portal.invoices.models import Invoice
from portal.ledger.service import due_now
from portal.reminders.models import Reminder, ReminderItem

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass
class Credit:
    amount: Decimal
    name: str = ""
    iban: str = ""
    reference: str = ""  # structured (RF or betalingskenmerk), in RmtInf/Strd
    text: str = ""  # free text, in RmtInf/Ustrd
    end_to_end: str = ""
    debit: bool = False
    return_reason: str = ""  # with debit: a returned transfer (RtrInf/Rsn/Cd)
    currency: str = "EUR"


def camt053(account: str, booked_on: date, credits: list[Credit], statement_id: str = "DULY-1") -> bytes:
    def sub(parent, tag, text=None, **attrs):
        element = etree.SubElement(parent, f"{{{NS}}}{tag}", **attrs)
        if text is not None:
            element.text = str(text)
        return element

    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})
    report = sub(root, "BkToCstmrStmt")
    header = sub(report, "GrpHdr")
    sub(header, "MsgId", statement_id)
    sub(header, "CreDtTm", f"{booked_on.isoformat()}T18:00:00")
    stmt = sub(report, "Stmt")
    sub(stmt, "Id", statement_id)
    sub(sub(sub(stmt, "Acct"), "Id"), "IBAN", account)
    for n, credit in enumerate(credits, 1):
        entry = sub(stmt, "Ntry")
        sub(entry, "Amt", f"{credit.amount:.2f}", Ccy=credit.currency)
        sub(entry, "CdtDbtInd", "DBIT" if credit.debit else "CRDT")
        sub(entry, "Sts", "BOOK")
        sub(sub(entry, "BookgDt"), "Dt", booked_on.isoformat())
        sub(sub(entry, "ValDt"), "Dt", booked_on.isoformat())
        sub(entry, "AcctSvcrRef", f"{statement_id}-{n}")
        tx = sub(sub(entry, "NtryDtls"), "TxDtls")
        sub(sub(tx, "Refs"), "EndToEndId", credit.end_to_end or "NOTPROVIDED")
        sub(sub(sub(tx, "AmtDtls"), "TxAmt"), "Amt", f"{credit.amount:.2f}", Ccy=credit.currency)
        parties = sub(tx, "RltdPties")
        role = "Cdtr" if credit.debit else "Dbtr"
        sub(sub(parties, role), "Nm", credit.name or "Unknown")
        if credit.iban:
            sub(sub(sub(parties, f"{role}Acct"), "Id"), "IBAN", credit.iban)
        if credit.reference or credit.text:
            remittance = sub(tx, "RmtInf")
            if credit.text:
                sub(remittance, "Ustrd", credit.text)
            if credit.reference:
                info = sub(sub(remittance, "Strd"), "CdtrRefInf")
                kind = sub(sub(info, "Tp"), "CdOrPrtry")
                sub(kind, "Cd", "SCOR")
                sub(info, "Ref", credit.reference)
        if credit.return_reason:
            sub(sub(sub(tx, "RtrInf"), "Rsn"), "Cd", credit.return_reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def sample_for(session, organisation, today: date, count: int = 12) -> bytes:
    """A statement of today paying some of the organisation's open invoices the ways customers do: by payment
    reference, by invoice number in the text, two invoices in one payment, a part payment; and a few the import
    cannot place (for the reconciliation queue) and one debit. For trying the bank import on your own data.

    Invoices with a reminder on the schedule come first, oldest due first (what is paid then leaves the schedule:
    the point of importing statements), and each is paid what it owes today: with the interest and collection
    costs a reminder added, which a debtor's payment of the reminder's total includes."""
    scheduled = exists().where(
        ReminderItem.invoice_id == Invoice.id,
        ReminderItem.dropped == "",
        ReminderItem.reminder_id == Reminder.id,
        Reminder.status == "scheduled",
    )
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.organisation_id == organisation.id,
            Invoice.kind == "invoice",
            Invoice.status == "open",
            Invoice.currency == "EUR",
        )
        .order_by(scheduled.desc(), Invoice.due_date, Invoice.id)
        .limit(count)
    ).all()
    owed = due_now(session, list(invoices), today)
    credits = []
    for n, invoice in enumerate(invoices):
        name, amount = invoice.debtor.name, owed[invoice.id]
        if n % 4 == 0 and invoice.payment_reference:
            credits.append(Credit(amount, name=name, reference=invoice.payment_reference))
        elif n % 4 == 1:
            credits.append(Credit(amount, name=name, text=f"Factuur {invoice.number}"))
        elif n % 4 == 2:
            part = (amount / 2).quantize(Decimal("0.01"))
            credits.append(Credit(part, name=name, text=f"Deelbetaling {invoice.number}"))
        else:
            credits.append(Credit(amount, name=name, text="Betaling"))  # for the queue: no number
    credits += [
        Credit(Decimal("17.50"), name="Onbekende Afzender", text="Teruggave borg"),
        Credit(Decimal("1250.00"), name="Belastingdienst", text="Teruggaaf BTW"),
        Credit(Decimal("89.95"), name="Kantoorartikelen B.V.", text="Kantoorartikelen", debit=True),
    ]
    return camt053(organisation.iban or "NL91ABNA0417164300", today, credits, statement_id=f"SAMPLE-{today}")
