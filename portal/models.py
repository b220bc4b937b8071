"""Imports every model so that Alembic and create_all() see the whole schema."""

from portal.arrangements.models import Arrangement, ArrangementInvoice, Installment, InstallmentNotice
from portal.bank.models import BankStatement, BankTransaction, DebtorAccount
from portal.debtors.models import Contact, Debtor
from portal.disputes.models import Dispute
from portal.events import Event
from portal.imports.models import ImportBatch, ImportMapping
from portal.invoices.models import Invoice, InvoiceDocument
from portal.law.models import LawRate
from portal.ledger.models import Allocation, DebtorBalance, OpenInvoiceTotal, Payment
from portal.links.models import AccessLink
from portal.mail.models import MailMessage
from portal.organisations.models import AuthToken, Organisation, User
from portal.payments.models import MolliePayment, MolliePaymentItem
from portal.promises.models import PaidClaim, Promise
from portal.reminders.models import PlanDebtor, PlanRow, Reminder, ReminderItem, SendDay
from portal.scenarios.models import Scenario, Step

__all__ = [
    "BankStatement",
    "BankTransaction",
    "DebtorAccount",
    "Arrangement",
    "ArrangementInvoice",
    "Installment",
    "InstallmentNotice",
    "AccessLink",
    "Dispute",
    "MolliePayment",
    "MolliePaymentItem",
    "PaidClaim",
    "Promise",
    "PlanDebtor",
    "PlanRow",
    "Reminder",
    "ReminderItem",
    "SendDay",
    "Allocation",
    "AuthToken",
    "Contact",
    "Debtor",
    "DebtorBalance",
    "Event",
    "ImportBatch",
    "ImportMapping",
    "Invoice",
    "LawRate",
    "InvoiceDocument",
    "MailMessage",
    "OpenInvoiceTotal",
    "Organisation",
    "Payment",
    "Scenario",
    "Step",
    "User",
]
