"""Cockpit: payment arrangements by status, one plan with its schedule and what has been paid, the supplier's
decision on a proposal (approve, reject with a message, counter-propose), and a plan made for a debtor."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func
from sqlalchemy.orm import selectinload
from wtforms import DateField, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.arrangements import service
from portal.arrangements.models import Arrangement, ArrangementInvoice
from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.pagination import current_page_number, paginate
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import Event, EventKind
from portal.extensions import db
from portal.ids import form_ids
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.tenancy import current_organisation_id, get_or_404, scoped

# The tabs, and the statuses each shows (the ended ones together).
TABS = {
    "proposed": ("proposed",),
    "active": ("active",),
    "offered": ("offered",),
    "completed": ("completed",),
    "broken": ("broken",),
    "rejected": ("rejected", "countered", "declined", "withdrawn"),
}


class PlanForm(FlaskForm):
    installments = IntegerField("Installments", validators=[InputRequired(), NumberRange(1, 120)])
    frequency = SelectField("Every", choices=[SelectChoice("monthly", "month"), SelectChoice("weekly", "week")])
    first_due = DateField("First installment on", validators=[InputRequired()])
    message = TextAreaField("Message to the debtor", validators=[Optional(), Length(max=1000)])


@bp.get("/arrangements")
def arrangements_index():
    status = request.args.get("status", "proposed")
    if status not in TABS:
        status = "proposed"
    query = (
        scoped(Arrangement)
        .where(Arrangement.status.in_(TABS[status]))
        .options(
            selectinload(Arrangement.debtor),
            selectinload(Arrangement.items).selectinload(ArrangementInvoice.invoice),
            selectinload(Arrangement.installments),
        )
        .order_by(Arrangement.created_at.desc(), Arrangement.id.desc())
    )
    page = paginate(db.session, query, current_page_number())
    counts = dict(
        db.session.execute(scoped(Arrangement, Arrangement.status, func.count()).group_by(Arrangement.status)).all()
    )
    today = current_user.organisation.today()
    return render_template(
        "cockpit/arrangements/index.html",
        page=page,
        rows=[(a, service.progress(a, today)) for (a,) in page.items],
        status=status,
        counts={tab: sum(counts.get(s, 0) for s in statuses) for tab, statuses in TABS.items()},
    )


def _english(error: DomainError) -> str:
    """The cockpit is English; the rules' messages are written for the debtor's language too."""
    with force_locale("en"):
        return str(error)


def _detail(arrangement: Arrangement, form: PlanForm | None = None, error: str = "", status: int = 200):
    organisation = current_user.organisation
    today = organisation.today()
    if form is None:
        form = PlanForm(formdata=None)
        form.installments.data = arrangement.installment_count
        form.frequency.data = arrangement.frequency
        form.first_due.data = max(arrangement.first_due, today)
    timeline = db.session.scalars(
        scoped(Event)
        .where(Event.debtor_id == arrangement.debtor_id, Event.kind.in_(EventKind.of("arrangement")))
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(25)
    ).all()
    related = [db.session.get(Arrangement, arrangement.counter_of_id)] if arrangement.counter_of_id else []
    related += db.session.scalars(scoped(Arrangement).where(Arrangement.counter_of_id == arrangement.id)).all()
    return render_template(
        "cockpit/arrangements/detail.html",
        arrangement=arrangement,
        state=service.progress(arrangement, today),
        today=today,
        form=form,
        error=error,
        timeline=timeline,
        related=related,
    ), status


@bp.get("/arrangements/<int:arrangement_id>")
def arrangement_detail(arrangement_id: int):
    return _detail(get_or_404(Arrangement, arrangement_id))


@bp.post("/arrangements/<int:arrangement_id>/decide")
@role_required("controller")
def arrangement_decide(arrangement_id: int):
    """Approve or reject a proposal; a rejection needs a message, which the debtor is mailed."""
    arrangement = get_or_404(Arrangement, arrangement_id)
    decision = request.form.get("decision", "")
    try:
        service.decide(
            db.session,
            current_organisation_id(),
            arrangement.id,
            decision,
            actor_user_id=current_user.id,
            message=request.form.get("message", ""),
            mail_from=current_app.config["MAIL_FROM"],
        )
    except DomainError as error:
        db.session.rollback()
        return _detail(get_or_404(Arrangement, arrangement_id), error=_english(error), status=422)
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_organisation_id())
    db.session.commit()
    flash(f"Plan for {arrangement.debtor.name}: {'approved' if decision == 'approve' else 'rejected'}.", "success")
    return redirect(url_for("cockpit.arrangement_detail", arrangement_id=arrangement.id), 303)


@bp.post("/arrangements/<int:arrangement_id>/counter")
@role_required("controller")
def arrangement_counter(arrangement_id: int):
    """Answer a proposal with another plan for the same invoices, for the debtor to accept or decline."""
    arrangement = get_or_404(Arrangement, arrangement_id)
    form = PlanForm()
    if not form.validate():
        return _detail(arrangement, form, status=422)
    try:
        offer = service.counter(
            db.session,
            current_organisation_id(),
            arrangement.id,
            form.installments.data,
            form.frequency.data,
            form.first_due.data,
            actor_user_id=current_user.id,
            message=form.message.data,
            mail_from=current_app.config["MAIL_FROM"],
        )
    except DomainError as error:
        db.session.rollback()
        return _detail(get_or_404(Arrangement, arrangement_id), form, _english(error), 422)
    db.session.commit()
    flash("Counter-proposal sent: the debtor accepts or declines it on their page.", "success")
    return redirect(url_for("cockpit.arrangement_detail", arrangement_id=offer.id), 303)


def _new_page(debtor: Debtor, form: PlanForm, chosen: list[int], error: str = "", status: int = 200, first=False):
    """The debtor's open invoices a plan may take: not disputed, not in a live plan already."""
    taken = {
        item.invoice_id
        for plan in service.live_for(db.session, current_organisation_id(), debtor.id)
        for item in plan.items
    }
    invoices = [
        i
        for i in db.session.scalars(
            scoped(Invoice)
            .where(Invoice.debtor_id == debtor.id, Invoice.kind == "invoice", Invoice.status == "open")
            .order_by(Invoice.due_date, Invoice.id)
        )
        if i.id not in taken and i.disputed_at is None
    ]
    return render_template(
        "cockpit/arrangements/new.html",
        debtor=debtor,
        form=form,
        invoices=invoices,
        chosen=chosen,
        error=error,
        first=first,
    ), status


@bp.get("/debtors/<int:debtor_id>/arrangements/new")
@role_required("controller")
def arrangement_new(debtor_id: int):
    """A plan agreed with the debtor (on the phone): it runs at once."""
    debtor = get_or_404(Debtor, debtor_id)
    form = PlanForm(formdata=None)
    form.installments.data = 3
    form.first_due.data = current_user.organisation.today()
    return _new_page(debtor, form, [], first=True)


@bp.post("/debtors/<int:debtor_id>/arrangements")
@role_required("controller")
def arrangement_create(debtor_id: int):
    debtor = get_or_404(Debtor, debtor_id)
    form = PlanForm()
    chosen = form_ids(request.form.getlist("invoice_ids"))
    if not form.validate():
        return _new_page(debtor, form, chosen, status=422)
    try:
        arrangement = service.create(
            db.session,
            current_organisation_id(),
            debtor.id,
            chosen,
            form.installments.data,
            form.frequency.data,
            form.first_due.data,
            actor_user_id=current_user.id,
            message=form.message.data,
            mail_from=current_app.config["MAIL_FROM"],
        )
    except DomainError as error:
        db.session.rollback()
        return _new_page(debtor, form, chosen, _english(error), 422)
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_organisation_id())
    db.session.commit()
    flash(f"Payment plan for {debtor.name} made; the schedule has been mailed.", "success")
    return redirect(url_for("cockpit.arrangement_detail", arrangement_id=arrangement.id), 303)
