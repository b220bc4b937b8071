"""Cockpit: the late-payment calculator, for a supplier who wants to check a claim before making it. A GET form:
nothing is stored, so any signed-in user may use it."""

from flask import render_template, request
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from portal.cockpit.forms import _amount
from portal.cockpit.views import bp
from portal.law.calculate import collection_costs, interest
from portal.law.rates import table


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

    def validate_paid(self, field):
        if self.due.data and field.data and field.data < self.due.data:
            raise ValidationError("Paid before it was due: no interest.")


@bp.get("/law")
def law_calculator():
    """Collection costs and statutory interest for a principal, with one line per rate period."""
    form = CalculatorForm(request.args)
    result = None
    if request.args and form.validate():
        try:
            rates = interest(
                table(form.profile.data, form.kind.data), form.principal.data, form.due.data, form.paid.data
            )
        except ValueError as exc:
            form.due.errors.append(str(exc))
        else:
            costs = collection_costs(
                form.profile.data, form.kind.data, form.principal.data, vat_rate=21 if form.vat.data else None
            )
            result = {"costs": costs, "interest": rates, "total": form.principal.data + costs.amount + rates.total}
    return render_template("cockpit/law.html", form=form, result=result), (422 if form.errors else 200)
