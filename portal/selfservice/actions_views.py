"""The debtor's actions on the self-service page: promise a date, "I have already paid", dispute an invoice, write
to the supplier. Each is a plain form (CSRF) in the page's language; a form with errors comes back as typed (422).

Invoice ids in a request are checked against the visit's debtor first (``Visit.invoice``: 404 for anything else),
before a form or a service sees them.
"""

from datetime import timedelta

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal.debtors import messages
from portal.disputes import service as disputes
from portal.disputes.models import Dispute
from portal.errors import DomainError
from portal.extensions import db, limiter
from portal.forms import add_error
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.ledger.claims import claims
from portal.promises import service as promises
from portal.selfservice import bp
from portal.selfservice.visit import (
    SESSION_KEY,
    TOO_LONG,
    Visit,
    checked_ids,
    open_invoices,
    page_locale,
    render,
    visit_or_expired,
)
from portal.text import MAX_MESSAGE


class PromiseForm(FlaskForm):
    invoice_ids = SelectMultipleField(_l("Which invoices"), coerce=int, validate_choice=False)
    promised_on = DateField(_l("I will pay on"), validators=[InputRequired(_l("Choose the date you will pay on."))])
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=500, message=TOO_LONG)])


class PaidForm(FlaskForm):
    invoice_ids = SelectMultipleField(_l("Which invoices"), coerce=int, validate_choice=False)
    paid_on = DateField(_l("Paid on (if you know)"), validators=[Optional()])
    comment = TextAreaField(
        _l("How did you pay? (optional)"), validators=[Optional(), Length(max=MAX_MESSAGE, message=TOO_LONG)]
    )


class DisputeForm(FlaskForm):
    reason = SelectField(
        _l("What is wrong?"),
        choices=[
            SelectChoice("", _l("Choose…")),
            SelectChoice("not_received", _l("I did not receive the goods or service")),
            SelectChoice("wrong_amount", _l("The amount is wrong")),
            SelectChoice("already_paid", _l("I have already paid it")),
            SelectChoice("quality", _l("I am not satisfied with what I received")),
            SelectChoice("not_ordered", _l("I did not order this")),
            SelectChoice("other", _l("Something else")),
        ],
        validators=[InputRequired(_l("Choose what is wrong."))],
    )
    comment = TextAreaField(
        _l("Explain (optional)"), validators=[Optional(), Length(max=MAX_MESSAGE, message=TOO_LONG)]
    )


class ContactForm(FlaskForm):
    message = TextAreaField(
        _l("Your message"),
        validators=[InputRequired(_l("Write your message.")), Length(max=MAX_MESSAGE, message=TOO_LONG)],
    )
    reply_to = StringField(
        _l("Your e-mail address or phone number (optional)"),
        validators=[Optional(), Length(max=200, message=TOO_LONG)],
    )


def _done(visit: Visit, message: str):
    """Commit, let planning take the change in now rather than at the clock's next run, and go back to the page."""
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", visit.organisation.id)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("selfservice.page"), 303)


def _owed(visit: Visit, invoices: list) -> dict:
    """What each invoice owes today, interest and costs included: the amounts the debtor's page shows."""
    found = claims(db.session, visit.organisation, visit.debtor, invoices, visit.organisation.today())
    return {invoice_id: claim.total for invoice_id, claim in found.items()}


def _promise_page(visit: Visit, form: PromiseForm, status: int = 200):
    today = visit.organisation.today()
    invoices = open_invoices(visit)
    return render(
        "selfservice/promise.html",
        visit.language,
        status,
        organisation=visit.organisation,
        form=form,
        invoices=invoices,
        owed=_owed(visit, invoices),
        today=today,
        latest=today + timedelta(days=visit.organisation.promise_max_days),
    )


@bp.get("/promise")
def promise_form():
    """Promise to pay one or more invoices by a date."""
    visit = visit_or_expired()
    form = PromiseForm(formdata=None)
    form.invoice_ids.data = checked_ids(visit, request.args.getlist("invoice")) or [i.id for i in open_invoices(visit)]
    return _promise_page(visit, form)


@bp.post("/promise")
def promise_save():
    visit = visit_or_expired()
    checked_ids(visit, request.form.getlist("invoice_ids"))
    with page_locale(visit):
        form = PromiseForm()
        if form.validate():
            try:
                promise = promises.promise(
                    db.session,
                    visit.organisation,
                    visit.debtor,
                    form.invoice_ids.data,
                    form.promised_on.data,
                    visit.organisation.today(),
                    note=form.note.data,
                )
            except DomainError as error:
                db.session.rollback()
                add_error(form, error)
            else:
                return _done(
                    visit,
                    gettext(
                        "Thank you. You promised to pay by %(date)s; until then you get no reminders about these "
                        "invoices.",
                        date=format_date(promise.promised_on, "long"),
                    ),
                )
    return _promise_page(visit, form, 422)


def _paid_page(visit: Visit, form: PaidForm, status: int = 200):
    invoices = open_invoices(visit)
    return render(
        "selfservice/paid.html",
        visit.language,
        status,
        organisation=visit.organisation,
        form=form,
        invoices=invoices,
        owed=_owed(visit, invoices),
        today=visit.organisation.today(),
    )


@bp.get("/paid")
def paid_form():
    """Tell the supplier an invoice has already been paid."""
    visit = visit_or_expired()
    form = PaidForm(formdata=None)
    form.invoice_ids.data = checked_ids(visit, request.args.getlist("invoice"))
    return _paid_page(visit, form)


@bp.post("/paid")
def paid_save():
    visit = visit_or_expired()
    checked_ids(visit, request.form.getlist("invoice_ids"))
    with page_locale(visit):
        form = PaidForm()
        if form.validate():
            try:
                promises.claim_paid(
                    db.session,
                    visit.organisation,
                    visit.debtor,
                    form.invoice_ids.data,
                    visit.organisation.today(),
                    paid_on=form.paid_on.data,
                    comment=form.comment.data,
                )
            except DomainError as error:
                db.session.rollback()
                add_error(form, error)
            else:
                return _done(
                    visit,
                    gettext(
                        "Thank you. %(name)s will look for your payment; meanwhile you get no reminders about "
                        "these invoices.",
                        name=visit.organisation.name,
                    ),
                )
    return _paid_page(visit, form, 422)


def _disputable(visit: Visit, invoice_id: int) -> Invoice:
    invoice = visit.invoice(invoice_id)
    if invoice.kind != "invoice":
        abort(404)  # a credit note is the supplier's answer, not something to dispute
    return invoice


def _dispute_page(visit: Visit, invoice: Invoice, form: DisputeForm, status: int = 200):
    open_dispute = db.session.scalar(
        select(Dispute).where(Dispute.invoice_id == invoice.id, Dispute.status == "open").order_by(Dispute.id.desc())
    )
    return render(
        "selfservice/dispute.html",
        visit.language,
        status,
        organisation=visit.organisation,
        invoice=invoice,
        open_dispute=open_dispute,
        form=form,
        today=visit.organisation.today(),
    )


@bp.get("/invoices/<int:invoice_id>/dispute")
def dispute_form(invoice_id: int):
    """Dispute one invoice, with a reason and a comment."""
    visit = visit_or_expired()
    return _dispute_page(visit, _disputable(visit, invoice_id), DisputeForm(formdata=None))


@bp.post("/invoices/<int:invoice_id>/dispute")
def dispute_save(invoice_id: int):
    visit = visit_or_expired()
    invoice = _disputable(visit, invoice_id)
    with page_locale(visit):
        form = DisputeForm()
        if form.validate():
            try:
                disputes.open_dispute(
                    db.session, visit.organisation, visit.debtor, invoice.id, form.reason.data, form.comment.data
                )
            except DomainError as error:
                db.session.rollback()
                add_error(form, error)
            else:
                return _done(
                    visit,
                    gettext(
                        "Thank you. %(name)s will look into invoice %(number)s; meanwhile you get no reminders "
                        "about it.",
                        name=visit.organisation.name,
                        number=invoice.number,
                    ),
                )
    return _dispute_page(visit, invoice, form, 422)


def _contact_page(visit: Visit, form: ContactForm, status: int = 200):
    return render("selfservice/contact.html", visit.language, status, organisation=visit.organisation, form=form)


@bp.get("/contact")
def contact_form():
    """Write to the supplier."""
    visit = visit_or_expired()
    return _contact_page(visit, ContactForm(formdata=None))


def _contact_limit() -> str:
    return current_app.config["SELFSERVICE_CONTACT_RATE_LIMIT"]


@bp.post("/contact")
# Each message is a mail to the supplier: a link is not a licence to flood their inbox.
@limiter.limit(_contact_limit, key_func=lambda: f"selfservice-contact:{session.get(SESSION_KEY)}")
def contact_save():
    visit = visit_or_expired()
    with page_locale(visit):
        form = ContactForm()
        if form.validate():
            try:
                messages.message_supplier(
                    db.session, visit.organisation, visit.debtor, form.message.data, reply_to=form.reply_to.data
                )
            except DomainError as error:
                db.session.rollback()
                add_error(form, error)
            else:
                db.session.commit()
                flash(
                    gettext("Your message has been sent to %(name)s.", name=visit.organisation.name.rstrip(".")),
                    "success",
                )
                return redirect(url_for("selfservice.page"), 303)
    return _contact_page(visit, form, 422)
