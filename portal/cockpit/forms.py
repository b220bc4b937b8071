from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.debtors.service import EDITABLE
from portal.law.service import MAX_REASON
from portal.money import MoneyError, is_currency_code, parse_typed_amount
from portal.organisations.models import METHOD_NAMES, MOLLIE_METHODS, ROLES

TIMEZONES = ["Europe/Amsterdam", "Europe/Brussels", "Europe/Berlin", "Europe/London", "Europe/Paris", "UTC"]


class InviteForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("Email", validators=[InputRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=[SelectChoice(r, r.title()) for r in ROLES], default="controller")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r, r.title()) for r in ROLES])


# Countries whose public holidays the `holidays` package knows; "" for none.
HOLIDAY_COUNTRIES = [
    ("NL", "the Netherlands"),
    ("BE", "Belgium"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("LU", "Luxembourg"),
    ("GB", "the United Kingdom"),
    ("IE", "Ireland"),
    ("AT", "Austria"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("", "no country (send on holidays)"),
]


def _currency(form, field):
    """A currency code that exists (ISO 4217), not only three letters."""
    field.data = (field.data or "").strip().upper()
    if not is_currency_code(field.data):
        raise ValidationError("Not a currency code (ISO 4217, e.g. EUR).")


def _amount(form, field):
    """Turns the typed amount into a Decimal, or a field error."""
    try:
        field.data = parse_typed_amount(field.data or "")
    except MoneyError as exc:
        raise ValidationError(str(exc).capitalize()) from None


LAW_PROFILE_CHOICES = [
    SelectChoice("nl", "Netherlands (WIK, statutory interest)"),
    SelectChoice("eu", "EU directive (business debtors only)"),
    SelectChoice("none", "None"),
]


class SettingsForm(FlaskForm):
    name = StringField("Organisation name", validators=[InputRequired(), Length(max=200)])
    timezone = SelectField("Timezone", choices=[SelectChoice(t) for t in TIMEZONES])
    locale = SelectField(
        "Language and number format", choices=[SelectChoice("nl", "Nederlands"), SelectChoice("en", "English")]
    )
    home_currency = StringField("Home currency", validators=[InputRequired(), _currency])
    sender_name = StringField("Sender name for mail", validators=[InputRequired(), Length(max=200)])
    sender_email = EmailField("Sender address", validators=[InputRequired(), Email()])
    iban = StringField("IBAN", validators=[Optional(), Length(max=42)])
    bic = StringField("BIC", validators=[Optional(), Length(max=11)])
    reference_scheme = SelectField(
        "Payment references",
        choices=[
            SelectChoice("rf", "RF creditor reference (ISO 11649)"),
            SelectChoice("nl", "Betalingskenmerk (16 digits)"),
        ],
    )
    behaviour_friendly_max_days = IntegerField(
        "Friendly: paid at most this many days late", validators=[InputRequired(), NumberRange(0, 60)]
    )
    behaviour_strict_min_days = IntegerField(
        "Strict: paid at least this many days late", validators=[InputRequired(), NumberRange(1, 365)]
    )
    behaviour_margin_days = IntegerField(
        "Margin before a change (days)", validators=[InputRequired(), NumberRange(0, 60)]
    )
    behaviour_half_life_days = IntegerField(
        "Half-life of old payments (days)", validators=[InputRequired(), NumberRange(7, 3650)]
    )
    behaviour_min_paid = IntegerField(
        "Paid invoices before leaving the default", validators=[InputRequired(), NumberRange(1, 100)]
    )

    send_hour = IntegerField("Send reminders from (hour)", validators=[InputRequired(), NumberRange(0, 22)])
    send_until_hour = IntegerField("... until (hour)", validators=[InputRequired(), NumberRange(1, 23)])
    min_gap_days = IntegerField("Days between two contacts", validators=[InputRequired(), NumberRange(1, 60)])
    business_days_only = BooleanField("Only on weekdays")
    holiday_country = SelectField(
        "No reminders on public holidays of",
        choices=[SelectChoice(code, name) for code, name in HOLIDAY_COUNTRIES],
    )
    link_lifetime_days = IntegerField(
        "Self-service links work for (days)", validators=[InputRequired(), NumberRange(1, 365)]
    )
    deliver_invoices = BooleanField("Duly mails new invoices to the debtor (with their PDF) as the first step")
    brand_colour = StringField(
        "Colour of your self-service page",
        validators=[InputRequired(), Regexp(r"^#[0-9a-fA-F]{6}$", message="A colour like #1e6b52.")],
    )
    promise_max_days = IntegerField(
        "Debtors may promise to pay within (days)", validators=[InputRequired(), NumberRange(1, 180)]
    )
    promise_grace_days = IntegerField(
        "Days of grace after a promised date", validators=[InputRequired(), NumberRange(0, 30)]
    )
    paid_claim_hold_days = IntegerField(
        '"I have already paid" pauses reminders for (days)', validators=[InputRequired(), NumberRange(1, 60)]
    )
    # Write-only: the stored key is never shown; left empty, the stored one stays.
    mollie_api_key = PasswordField(
        "Mollie API key",
        validators=[
            Optional(),
            Regexp(
                r"^(test|live)_[A-Za-z0-9]{30}$", message="A Mollie key is test_ or live_ and 30 letters and digits."
            ),
        ],
    )
    remove_mollie_api_key = BooleanField("Remove the stored Mollie key (no online payments)")
    mollie_methods = SelectMultipleField(
        "Payment methods offered",
        choices=[SelectChoice(m, METHOD_NAMES[m]) for m in MOLLIE_METHODS],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    # Payment plans (portal.arrangements): who may propose one on their page, the limits every plan keeps to, and
    # the smaller limits within which a debtor's proposal starts without waiting for the supplier.
    arrangement_scenarios = SelectMultipleField(
        "Debtors who may propose a payment plan on their page",
        choices=[
            SelectChoice("friendly", "on the friendly scenario"),
            SelectChoice("standard", "on the standard scenario"),
            SelectChoice("strict", "on the strict scenario"),
        ],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    arrangement_max_installments = IntegerField("Most installments", validators=[InputRequired(), NumberRange(2, 60)])
    arrangement_min_installment = StringField("Smallest installment", validators=[InputRequired(), _amount])
    arrangement_max_total = StringField("Largest plan (total)", validators=[InputRequired(), _amount])
    arrangement_max_days = IntegerField(
        "Last installment at most (days ahead)", validators=[InputRequired(), NumberRange(7, 1095)]
    )
    arrangement_auto_installments = IntegerField(
        "Approved at once up to (installments)", validators=[InputRequired(), NumberRange(0, 60)]
    )
    arrangement_auto_total = StringField("... and up to (total)", validators=[InputRequired(), _amount])
    arrangement_auto_days = IntegerField("... ending within (days)", validators=[InputRequired(), NumberRange(0, 1095)])
    arrangement_grace_days = IntegerField(
        "A missed installment breaks the plan after (days)", validators=[InputRequired(), NumberRange(0, 60)]
    )

    # Late-payment law (portal.law): what may be claimed from a late payer, and how.
    law_business = SelectField("For business debtors", choices=LAW_PROFILE_CHOICES)
    law_consumer = SelectField("For consumer debtors", choices=LAW_PROFILE_CHOICES)
    costs_add_vat = BooleanField("Add VAT to collection costs (only if you cannot reclaim it)")
    costs_vat_rate = IntegerField("VAT rate (%)", validators=[InputRequired(), NumberRange(0, 30)])
    costs_basis = SelectField(
        "Collection costs are reckoned",
        choices=[
            SelectChoice("auto", "Automatic (together under WIK, per invoice for EUR 40)"),
            SelectChoice("together", "Together per letter"),
            SelectChoice("per_invoice", "Per invoice"),
        ],
    )
    receipt_days_email = IntegerField(
        "A mail counts as received after (days)", validators=[InputRequired(), NumberRange(0, 10)]
    )
    receipt_days_letter = IntegerField(
        "A letter counts as received after (business days)", validators=[InputRequired(), NumberRange(0, 10)]
    )
    legal_order = BooleanField("Book payments to costs, then interest, then principal (art. 6:44 BW)")

    def validate_arrangement_min_installment(self, field):
        if isinstance(field.data, Decimal) and field.data <= 0:
            raise ValidationError("More than zero.")

    def validate_send_until_hour(self, field):
        if self.send_hour.data is not None and field.data is not None and field.data <= self.send_hour.data:
            raise ValidationError("Must be later than the first hour.")

    def validate_behaviour_strict_min_days(self, field):
        friendly = self.behaviour_friendly_max_days.data
        if friendly is not None and field.data is not None and field.data <= friendly:
            raise ValidationError("Must be more than the friendly limit.")


class DebtorForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    number = StringField("Debtor number", validators=[Optional(), Length(max=50)])
    kind = SelectField("Kind", choices=[SelectChoice("business", "Business"), SelectChoice("consumer", "Consumer")])
    language = SelectField("Language", choices=[SelectChoice("nl", "Nederlands"), SelectChoice("en", "English")])
    email = EmailField("Email", validators=[Optional(), Email(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    address = StringField("Address", validators=[Optional(), Length(max=300)])
    postcode = StringField("Postcode", validators=[Optional(), Length(max=20)])
    city = StringField("City", validators=[Optional(), Length(max=100)])
    country = StringField(
        "Country",
        default="NL",
        validators=[InputRequired(), Regexp(r"^[A-Z]{2}$", message="Two capital letters, e.g. NL")],
    )
    vat_number = StringField("VAT number", validators=[Optional(), Length(max=30)])
    company_number = StringField("Chamber of commerce (KvK) number", validators=[Optional(), Length(max=30)])
    invoice_contact_name = StringField("Invoice contact", validators=[Optional(), Length(max=200)])
    invoice_contact_email = EmailField("Invoice contact email", validators=[Optional(), Email(), Length(max=254)])
    dunning_contact_name = StringField("Reminders go to (name)", validators=[Optional(), Length(max=200)])
    dunning_contact_email = EmailField("Reminders go to (email)", validators=[Optional(), Email(), Length(max=254)])
    dunning_contact_phone = StringField("Reminders contact phone", validators=[Optional(), Length(max=40)])

    DETAILS = EDITABLE  # the fields the debtor service accepts

    def details(self) -> dict:
        return {name: getattr(self, name).data or "" for name in self.DETAILS}

    def contacts(self) -> list[dict]:
        return [
            {"role": "invoice", "name": self.invoice_contact_name.data, "email": self.invoice_contact_email.data},
            {
                "role": "dunning",
                "name": self.dunning_contact_name.data,
                "email": self.dunning_contact_email.data,
                "phone": self.dunning_contact_phone.data,
            },
        ]

    def fill_contacts(self, debtor) -> None:
        for role, prefix in (("invoice", "invoice_contact"), ("dunning", "dunning_contact")):
            contact = debtor.contact_for(role)
            if contact:
                getattr(self, f"{prefix}_name").data = contact.name
                getattr(self, f"{prefix}_email").data = contact.email
        dunning = debtor.contact_for("dunning")
        if dunning:
            self.dunning_contact_phone.data = dunning.phone


class InvoiceForm(FlaskForm):
    number = StringField("Invoice number", validators=[InputRequired(), Length(max=50)])
    issue_date = DateField("Issue date", validators=[InputRequired()])
    due_date = DateField("Due date", validators=[Optional()])
    total = StringField("Total", validators=[InputRequired(), _amount])
    currency = StringField(
        "Currency",
        default="EUR",
        validators=[InputRequired(), _currency],
    )
    payment_reference = StringField(
        "Payment reference",
        validators=[Optional(), Length(max=35)],
        description="Leave empty: Duly makes a structured one.",
    )

    def values(self) -> dict:
        """What the invoice services take from this form."""
        return {
            "number": self.number.data,
            "issue_date": self.issue_date.data,
            "due_date": self.due_date.data,
            "total": self.total.data,
            "payment_reference": self.payment_reference.data or "",
        }


class PaymentForm(FlaskForm):
    amount = StringField("Amount received", validators=[InputRequired(), _amount])
    currency = StringField("Currency", default="EUR", validators=[InputRequired(), _currency])
    received_on = DateField("Received on", validators=[InputRequired()])
    reference = StringField("Reference or note", validators=[Optional(), Length(max=140)])


class CreditNoteForm(FlaskForm):
    number = StringField("Credit note number", validators=[InputRequired(), Length(max=50)])
    issue_date = DateField("Date", validators=[InputRequired()])
    total = StringField("Amount credited", validators=[InputRequired(), _amount])
    corrects_invoice_id = SelectField("Applies to invoice", coerce=int, choices=[], validate_choice=True)
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=500)])


class InvoiceEditForm(InvoiceForm):
    currency = None  # an invoice keeps its currency: payments in it may already be allocated


class StepForm(FlaskForm):
    anchor = SelectField(
        "Counted from", choices=[SelectChoice("due_date", "the due date"), SelectChoice("issue_date", "the issue date")]
    )
    offset_days = IntegerField(
        "Days", validators=[InputRequired()], description="Negative before the due date: a courtesy reminder."
    )
    channel = SelectField(
        "Channel",
        choices=[
            SelectChoice("email", "Email"),
            SelectChoice("phone", "Phone call (to-do)"),
            SelectChoice("letter", "Letter"),
        ],
    )
    tone = SelectField(
        "Tone", choices=[SelectChoice(t, t.title()) for t in ("courtesy", "friendly", "neutral", "firm", "final")]
    )
    include_pay_link = BooleanField("Include the self-service link")
    is_final_notice = BooleanField("This is the final notice")
    adds_costs = BooleanField("Adds collection costs")
    adds_interest = BooleanField("Starts statutory interest")
    subject_nl = StringField("Subject (Nederlands)", validators=[Length(max=200)])
    body_nl = TextAreaField("Text (Nederlands)", render_kw={"rows": 12})
    subject_en = StringField("Subject (English)", validators=[Length(max=200)])
    body_en = TextAreaField("Text (English)", render_kw={"rows": 12})

    def values(self) -> dict:
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}


class WaiverForm(FlaskForm):
    """Waive collection costs or statutory interest for one debtor; ``prefix`` is the part, so that both forms
    can stand on one page."""

    # DataRequired, not InputRequired: a reason of spaces is no reason.
    reason = StringField(
        "Reason", validators=[DataRequired(message="Say why: a waiver needs a reason."), Length(max=MAX_REASON)]
    )
