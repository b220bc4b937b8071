"""Cockpit: the late-payment law page. The calculator is a GET form that stores nothing, for a supplier who wants to
check a claim before making it; below it, the organisation's statutory rate tables, which owners and controllers
may change."""

from decimal import Decimal, InvalidOperation

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.forms import _amount
from portal.extensions import db
from portal.law import service as law
from portal.law.calculate import Costs, collection_costs, interest, why_none
from portal.law.models import RATE_TABLES, LawRate
from portal.law.rates import interest_rates, rate_table
from portal.money import ZERO
from portal.tenancy import current_organisation_id, get_or_404

TABLE_NAMES = {
    "nl_commercial": "Dutch commercial rate (art. 6:119a BW, business debtors)",
    "nl_consumer": "Dutch statutory rate (art. 6:119 BW, consumers)",
    "ecb_reference": "ECB reference rate (the EU directive adds 8 points)",
}


class CalculatorForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    profile = SelectField(
        "Legal profile",
        choices=[SelectChoice("nl", "Netherlands (WIK, art. 6:119/6:119a BW)"), SelectChoice("eu", "EU directive")],
    )
    kind = SelectField("Debtor", choices=[SelectChoice("business", "Business"), SelectChoice("consumer", "Consumer")])
    principal = StringField("Principal", validators=[InputRequired(), _amount])
    due = DateField("Due date", validators=[InputRequired()])
    paid = DateField("Paid on (or today)", validators=[InputRequired()])
    vat = BooleanField("Add 21% VAT to the costs (only if you cannot reclaim it)")


def _rate(form, field):
    """The typed percentage as a Decimal ("10,15" as well as "10.15"), or a field error."""
    try:
        field.data = law.check_rate(Decimal((field.data or "").strip().replace(",", ".")))
    except InvalidOperation:
        raise ValidationError("A rate is a number, like 10.15.") from None
    except law.LawError as exc:
        raise ValidationError(str(exc)) from None


class RateForm(FlaskForm):
    """A rate for one table; the table is the form's ``prefix``, so that the three forms can share the page."""

    effective_on = DateField("From", validators=[InputRequired()])
    rate = StringField("Rate (% a year)", validators=[InputRequired(), _rate])


def _tables(organisation_id: int) -> list[dict]:
    """Each table with its rows: the organisation's own (which can be deleted), or the published ones."""
    tables = []
    for name in RATE_TABLES:
        own = law.own_rates(db.session, organisation_id, name)
        rows = (
            [(row.id, row.effective_on, Decimal(row.basis_points) / 100) for row in own]
            if own
            else [(None, day, rate) for day, rate in rate_table(db.session, organisation_id, name)]
        )
        tables.append({"name": name, "title": TABLE_NAMES[name], "own": bool(own), "rows": rows})
    return tables


def _page(form: CalculatorForm, result=None, rate_forms: dict | None = None, status: int = 200):
    organisation_id = current_organisation_id()
    rate_forms = {name: RateForm(prefix=name, formdata=None) for name in RATE_TABLES} | (rate_forms or {})
    return render_template(
        "cockpit/law.html", form=form, result=result, tables=_tables(organisation_id), rate_forms=rate_forms
    ), status


@bp.get("/law")
def law_calculator():
    """Collection costs and statutory interest for a principal, with one line per rate period; the rate tables."""
    form = CalculatorForm(request.args)
    result = None
    if request.args and form.validate():
        try:
            rates = interest(
                interest_rates(db.session, current_organisation_id(), form.profile.data, form.kind.data),
                form.principal.data,
                form.due.data,
                form.paid.data,
            )
        except ValueError as exc:
            form.due.errors.append(str(exc))
        else:
            rates.why = why_none(form.profile.data, form.kind.data) or rates.why
            costs = collection_costs(
                form.profile.data, form.kind.data, form.principal.data, vat_rate=21 if form.vat.data else None
            )
            if form.paid.data <= form.due.data:  # paid in time: nothing beside the principal
                costs = Costs(ZERO, ZERO, "not late: paid by the due date")
            result = {"costs": costs, "interest": rates, "total": form.principal.data + costs.amount + rates.total}
    return _page(form, result, status=422 if form.errors else 200)


@bp.post("/law/rates")
@role_required("controller")
def law_rate_add():
    """Add a rate to one of the organisation's tables (the published rates become its own copy first)."""
    table = request.form.get("table", "")
    if table not in RATE_TABLES:
        abort(400)
    form = RateForm(prefix=table)
    if form.validate_on_submit():
        try:
            law.add_rate(db.session, current_organisation_id(), table, form.effective_on.data, form.rate.data)
        except law.LawError as exc:
            db.session.rollback()
            form.effective_on.errors = [*form.effective_on.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"{form.rate.data}% from {form.effective_on.data.isoformat()} added.", "success")
            return redirect(url_for("cockpit.law_calculator", _anchor=f"rates-{table}"), 303)
    return _page(CalculatorForm(formdata=None), rate_forms={table: form}, status=422)


@bp.post("/law/rates/<int:rate_id>/delete")
@role_required("controller")
def law_rate_delete(rate_id: int):
    """Delete one of the organisation's own rates."""
    row = get_or_404(LawRate, rate_id)
    table = row.rate_table
    try:
        law.delete_rate(db.session, current_organisation_id(), row.id)
    except law.LawError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Rate deleted.", "success")
    return redirect(url_for("cockpit.law_calculator", _anchor=f"rates-{table}"), 303)
