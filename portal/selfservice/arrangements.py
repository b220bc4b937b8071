"""Payment plans on the debtor's page: propose one (see the schedule first, then confirm), answer the supplier's
counter-proposal, pay the next installment through Mollie."""

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import NumberInput

from portal.arrangements import service
from portal.arrangements.models import Arrangement
from portal.errors import DomainError
from portal.extensions import db, limiter
from portal.forms import add_error
from portal.jobs import enqueue_after_commit
from portal.locales import DEBTOR_LOCALES
from portal.payments import service as payments
from portal.selfservice import bp
from portal.selfservice.payments import _is_checkout, urls
from portal.selfservice.visit import (
    TOO_LONG,
    Visit,
    checked_ids,
    open_invoices,
    page_locale,
    pay_limit,
    per_link,
    render,
    visit_or_expired,
)


class PlanForm(FlaskForm):
    invoice_ids = SelectMultipleField(_l("Which invoices"), coerce=int, validate_choice=False)
    # Text, not IntegerField: its "Not a valid integer value." is not in the debtor's language; the service reads
    # the number and says what is wrong in it.
    installments = StringField(
        _l("Number of installments"),
        validators=[InputRequired(_l("Choose the number of installments."))],
        widget=NumberInput(),
    )
    frequency = SelectField(
        _l("Every"), choices=[SelectChoice("monthly", _l("month")), SelectChoice("weekly", _l("week"))]
    )
    first_due = DateField(
        _l("First installment on"), validators=[InputRequired(_l("Choose the date of the first installment."))]
    )
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=500, message=TOO_LONG)])


def free_invoices(visit: Visit) -> list:
    """The open invoices a new plan may take: not disputed, not in a live plan already."""
    taken = {
        item.invoice_id
        for a in service.live_for(db.session, visit.organisation.id, visit.debtor.id)
        for item in a.items
    }
    return [i for i in open_invoices(visit) if i.disputed_at is None and i.id not in taken]


def _plan_page(visit: Visit, form: PlanForm, status: int = 200, draft: service.Draft | None = None):
    organisation = visit.organisation
    today = organisation.today()
    refused = service.proposal_refused(db.session, organisation, visit.debtor, today)
    return render(
        "selfservice/plan.html",
        visit.language,
        status,
        organisation=organisation,
        form=form,
        invoices=free_invoices(visit),
        refused=refused,
        draft=draft,
        today=today,
    )


@bp.get("/plan")
def plan_form():
    """Propose to pay in installments."""
    visit = visit_or_expired()
    form = PlanForm(formdata=None)
    form.invoice_ids.data = checked_ids(visit, request.args.getlist("invoice")) or [i.id for i in free_invoices(visit)]
    form.installments.data = 3
    form.first_due.data = visit.organisation.today()
    return _plan_page(visit, form)


@bp.post("/plan")
def plan_save():
    """Without ``confirm``: show the schedule the choices make. With it: propose that plan."""
    visit = visit_or_expired()
    checked_ids(visit, request.form.getlist("invoice_ids"))
    organisation = visit.organisation
    with page_locale(visit):
        form = PlanForm()
        if form.validate():
            today = organisation.today()
            args = (form.invoice_ids.data, form.installments.data, form.frequency.data, form.first_due.data, today)
            try:
                if not request.form.get("confirm"):
                    draft = service.draft(db.session, organisation, visit.debtor, *args)
                    db.session.rollback()
                    return _plan_page(visit, form, draft=draft)
                arrangement = service.propose(
                    db.session,
                    organisation,
                    visit.debtor,
                    *args,
                    note=form.note.data,
                    mail_from=current_app.config["MAIL_FROM"],
                )
            except DomainError as error:
                db.session.rollback()
                add_error(form, error)
            else:
                enqueue_after_commit(db.session, "workers.jobs.plan_organisation", organisation.id)
                db.session.commit()
                flash(
                    gettext("Your payment plan is agreed. We have mailed you the schedule.")
                    if arrangement.status == "active"
                    else gettext("Thank you. We will look at your proposal and let you know by mail."),
                    "success",
                )
                return redirect(url_for("selfservice.page"), 303)
    return _plan_page(visit, form, 422)


def _own(visit: Visit, arrangement_id: int) -> Arrangement:
    arrangement = db.session.get(Arrangement, arrangement_id)
    if (
        arrangement is None
        or arrangement.organisation_id != visit.organisation.id
        or (arrangement.debtor_id != visit.debtor.id)
    ):
        abort(404)
    return arrangement


@bp.post("/plans/<int:arrangement_id>/answer")
def plan_answer(arrangement_id: int):
    """Accept or decline the supplier's counter-proposal."""
    visit = visit_or_expired()
    _own(visit, arrangement_id)
    accept = request.form.get("answer") == "accept"
    try:
        service.answer_offer(
            db.session,
            visit.organisation,
            visit.debtor,
            arrangement_id,
            accept,
            mail_from=current_app.config["MAIL_FROM"],
        )
    except DomainError as error:
        db.session.rollback()
        with page_locale(visit):
            flash(str(error), "error")
        return redirect(url_for("selfservice.page"), 303)
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", visit.organisation.id)
    db.session.commit()
    with page_locale(visit):
        flash(gettext("Your payment plan is agreed.") if accept else gettext("You declined the proposal."), "success")
    return redirect(url_for("selfservice.page"), 303)


@bp.post("/plans/<int:arrangement_id>/pay")
@limiter.limit(pay_limit, key_func=per_link)
def plan_pay(arrangement_id: int):
    """Pay the plan's next installment (what is left of it) through Mollie."""
    visit = visit_or_expired()
    arrangement = _own(visit, arrangement_id)
    if arrangement.status != "active":
        abort(404)
    row = service.progress(arrangement, visit.organisation.today()).next
    if row is None:
        return redirect(url_for("selfservice.page"), 303)
    parts = service.portions(arrangement, row.remaining)
    try:
        mp = payments.start(
            db.session,
            visit.organisation,
            visit.debtor,
            [invoice.id for invoice, _ in parts],
            urls=urls(),
            endpoint=current_app.config["MOLLIE_API_ENDPOINT"],
            locale=DEBTOR_LOCALES[visit.language],
            amounts={invoice.id: amount for invoice, amount in parts},
            installment=row.installment,
        )
    except payments.PaymentError:
        db.session.rollback()
        current_app.logger.warning("installment payment for plan %s not started", arrangement_id, exc_info=True)
        with page_locale(visit):
            flash(
                gettext("Online payment is not available right now. Please try again later, or pay by bank transfer."),
                "error",
            )
        return redirect(url_for("selfservice.page"), 303)
    if not _is_checkout(mp.checkout_url):
        current_app.logger.error("Mollie gave an unexpected checkout URL for payment %s", mp.id)
        abort(502)
    return redirect(mp.checkout_url, 303)
